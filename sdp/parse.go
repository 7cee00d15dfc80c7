package sdp

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseError reports a syntax error in a session description.
type ParseError struct {
	// Line is the 1-based number of the offending line. For a line that is
	// missing at the end of the input, it is one past the last line.
	Line int
	// Offset is the byte offset in the input of the start of that line.
	Offset int
	// Reason describes the error.
	Reason string
}

// Error returns the error as "sdp: line N: reason".
func (e *ParseError) Error() string {
	return "sdp: line " + strconv.Itoa(e.Line) + ": " + e.Reason
}

// Ranks of the session-level line types, in the order of RFC 8866 §5.
const (
	rankV = iota
	rankO
	rankS
	rankI
	rankU
	rankE
	rankP
	rankC
	rankB
	rankT // t= and the r= lines after it
	rankZ
	rankK
	rankA
	rankM
)

// sessionRank returns the rank of line type t at session level, or -1 for
// a type letter RFC 8866 does not define.
func sessionRank(t byte) int {
	switch t {
	case 'v':
		return rankV
	case 'o':
		return rankO
	case 's':
		return rankS
	case 'i':
		return rankI
	case 'u':
		return rankU
	case 'e':
		return rankE
	case 'p':
		return rankP
	case 'c':
		return rankC
	case 'b':
		return rankB
	case 't', 'r':
		return rankT
	case 'z':
		return rankZ
	case 'k':
		return rankK
	case 'a':
		return rankA
	case 'm':
		return rankM
	}
	return -1
}

// mediaRank returns the rank of line type t within a media description, or
// -1 if it may not appear there.
func mediaRank(t byte) int {
	switch t {
	case 'm':
		return 0
	case 'i':
		return 1
	case 'c':
		return 2
	case 'b':
		return 3
	case 'k':
		return 4
	case 'a':
		return 5
	}
	return -1
}

// repeatable reports whether line type t may occur on consecutive lines.
func repeatable(t byte, media bool) bool {
	switch t {
	case 'b', 'a':
		return true
	case 'c':
		return media
	case 'e', 'p', 't', 'r':
		return !media
	}
	return false
}

// textType reports whether the value of line type t may begin with
// whitespace (the text of s= and i=, and the free-form e= and p=).
func textType(t byte) bool {
	switch t {
	case 's', 'i', 'e', 'p':
		return true
	}
	return false
}

// Parse parses a session description (RFC 8866 §5, §9). It accepts lines
// ending in CRLF or in LF alone, and a final line without a terminator.
// It returns a *ParseError for any syntax error, including a type letter
// RFC 8866 does not define, and never panics.
//
// The strings in the returned Session share one copy of b; b itself is not
// retained.
func Parse(b []byte) (*Session, error) {
	if len(b) == 0 {
		return nil, &ParseError{Line: 1, Reason: "empty session description"}
	}
	p := parser{src: string(b)}
	p.prescan()
	s := new(Session)
	if err := p.parse(s); err != nil {
		return nil, err
	}
	return s, nil
}

type parser struct {
	src   string // the whole description
	pos   int    // offset of the next line
	line  int    // number of the current line
	off   int    // offset of the current line
	typ   byte   // type letter of the current line
	prev  byte   // type letter of the previous line
	media int    // capacity for the Media slice, from prescan
	val   string // value of the current line

	// Backing arrays shared by the sections of the description, so that
	// each kind of repeated line usually costs one allocation per Parse
	// rather than one per growth of each section's slice. Sections take
	// their elements with carve.
	attrs []Attribute
	conns []Connection
	bws   []Bandwidth
	fmts  []string
}

// prescan counts the lines that fill the shared backing arrays, and the
// media formats, and allocates the arrays with that capacity, but never
// more than preallocMax elements: input that fails to parse early does not
// cost more than a small, fixed amount of memory, and a larger description
// grows the arrays by appending as usual.
func (p *parser) prescan() {
	var nA, nC, nB, nF, nM int
	for rest := p.src; rest != ""; {
		l := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		switch l[0] {
		case 'a':
			nA++
		case 'c':
			nC++
		case 'b':
			nB++
		case 'm':
			nM++
			nF += max(strings.Count(l, " ")-2, 0)
		}
	}
	p.attrs = make([]Attribute, 0, min(nA, preallocMax))
	p.conns = make([]Connection, 0, min(nC, preallocMax))
	p.bws = make([]Bandwidth, 0, min(nB, preallocMax))
	p.fmts = make([]string, 0, min(nF, preallocMax))
	p.media = min(nM, preallocMax/4)
}

// preallocMax bounds the capacity prescan gives each backing array.
const preallocMax = 64

// carve returns the elements appended to pool since start, as a slice whose
// capacity ends at its length so that appending to it cannot overwrite the
// next section's elements. It returns nil if there are none.
func carve[T any](pool []T, start int) []T {
	if len(pool) == start {
		return nil
	}
	return pool[start:len(pool):len(pool)]
}

func (p *parser) fail(reason string) *ParseError {
	return &ParseError{Line: p.line, Offset: p.off, Reason: reason}
}

func (p *parser) failf(format string, args ...any) *ParseError {
	return p.fail(fmt.Sprintf(format, args...))
}

// next reads the next line into p.typ and p.val. It reports false at the
// end of the input.
func (p *parser) next() (bool, *ParseError) {
	if p.pos >= len(p.src) {
		return false, nil
	}
	p.prev = p.typ
	p.line++
	p.off = p.pos
	l := p.src[p.pos:]
	if i := strings.IndexByte(l, '\n'); i >= 0 {
		l = l[:i]
		p.pos += i + 1
	} else {
		p.pos = len(p.src)
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	switch {
	case l == "" && strings.Trim(p.src[p.off:], "\r\n") == "":
		// Blank lines after the last line: a SIP body often carries an extra
		// CRLF. Nothing follows them, so they cannot change the meaning;
		// accept them (RFC 8866 §5 asks parsers to be tolerant of line
		// endings).
		p.pos = len(p.src)
		p.line--
		return false, nil
	case l == "":
		return false, p.fail("empty line")
	case strings.IndexByte(l, '\r') >= 0:
		return false, p.fail("carriage return inside a line")
	case strings.IndexByte(l, 0) >= 0:
		return false, p.fail("NUL byte inside a line")
	case l[0] == ' ' || l[0] == '\t':
		return false, p.fail("whitespace before the type letter")
	case len(l) < 2 || l[1] != '=':
		if i := strings.IndexByte(l, '='); i > 1 && strings.Trim(l[1:i], " \t") == "" {
			return false, p.fail("whitespace before '='")
		}
		return false, p.fail("malformed line: want <type>=<value>")
	case sessionRank(l[0]) < 0:
		return false, p.failf("unknown line type %q", l[0])
	}
	p.typ, p.val = l[0], l[2:]
	if v := p.val; v != "" && (v[0] == ' ' || v[0] == '\t') && !textType(p.typ) {
		return false, p.failf("whitespace after '=' in %c= line", p.typ)
	}
	return true, nil
}

func (p *parser) outOfOrder() *ParseError {
	return p.failf("%c= line out of order after %c= line", p.typ, p.prev)
}

// endSession stores the session-level lines kept in the shared arrays.
func (p *parser) endSession(s *Session) {
	s.Attributes = carve(p.attrs, 0)
	s.Bandwidths = carve(p.bws, 0)
}

func (p *parser) parse(s *Session) *ParseError {
	last := -1
	for {
		ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		r := sessionRank(p.typ)
		switch {
		case last < 0 && p.typ != 'v':
			return p.failf("first line is %c=, want v=", p.typ)
		case r < last:
			return p.outOfOrder()
		case r == last && !repeatable(p.typ, false):
			return p.failf("more than one %c= line", p.typ)
		case r > rankO && last < rankO:
			return p.fail("missing o= line")
		case r > rankS && last < rankS:
			return p.fail("missing s= line")
		case r > rankT && last < rankT:
			return p.fail("missing t= line")
		case p.typ == 'r' && last != rankT:
			return p.fail("r= line does not follow a t= line")
		}
		last = r
		if p.typ == 'm' {
			p.endSession(s)
			return p.parseMedia(s)
		}
		if err := p.sessionLine(s); err != nil {
			return err
		}
	}
	p.endSession(s)
	// A mandatory line is missing at the end of the input.
	p.line++
	p.off = len(p.src)
	switch {
	case last < rankO:
		return p.fail("missing o= line")
	case last < rankS:
		return p.fail("missing s= line")
	case last < rankT:
		return p.fail("missing t= line")
	}
	return nil
}

// sessionLine parses the current session-level line into s.
func (p *parser) sessionLine(s *Session) *ParseError {
	v := p.val
	switch p.typ {
	case 'v':
		if !isDigits(v) {
			return p.fail("invalid version in v= line")
		}
		if v != "0" {
			return p.failf("unsupported version %q, want 0", v)
		}
		s.Version = 0
	case 'o':
		return p.origin(&s.Origin)
	case 's':
		return p.text(&s.Name)
	case 'i':
		return p.text(&s.Info)
	case 'u':
		if !isNonWS(v) {
			return p.fail("invalid URI in u= line")
		}
		s.URI = v
	case 'e':
		if v == "" {
			return p.fail("empty e= line")
		}
		s.Emails = append(s.Emails, v)
	case 'p':
		if v == "" {
			return p.fail("empty p= line")
		}
		s.Phones = append(s.Phones, v)
	case 'c':
		var c Connection
		if err := p.connection(&c); err != nil {
			return err
		}
		p.conns = append(p.conns, c)
		s.Connection = &p.conns[len(p.conns)-1]
	case 'b':
		b, err := p.bandwidth()
		if err != nil {
			return err
		}
		p.bws = append(p.bws, b)
	case 't':
		var f [2]string
		if !splitFields(v, f[:]) {
			return p.fail("t= line must be <start-time> <stop-time>")
		}
		start, ok := parseTime(f[0])
		if !ok {
			return p.failf("invalid start time %.32q in t= line", f[0])
		}
		stop, ok := parseTime(f[1])
		if !ok {
			return p.failf("invalid stop time %.32q in t= line", f[1])
		}
		s.Times = append(s.Times, Timing{Start: start, Stop: stop})
	case 'r':
		if !isRepeatField(v) {
			return p.fail("invalid r= line")
		}
		t := &s.Times[len(s.Times)-1]
		t.Repeats = append(t.Repeats, v)
	case 'z':
		if !isZoneField(v) {
			return p.fail("invalid z= line")
		}
		s.ZoneAdjust = v
	case 'k':
		return p.key(&s.Key)
	case 'a':
		a, err := p.attribute()
		if err != nil {
			return err
		}
		p.attrs = append(p.attrs, a)
	}
	return nil
}

// parseMedia parses the media descriptions; the current line is the
// first m=.
func (p *parser) parseMedia(s *Session) *ParseError {
	s.Media = make([]Media, 0, p.media)
	for {
		mLine, mOff := p.line, p.off
		s.Media = append(s.Media, Media{})
		m := &s.Media[len(s.Media)-1]
		if err := p.mediaField(m); err != nil {
			return err
		}
		attrs, conns, bws := len(p.attrs), len(p.conns), len(p.bws)
		last, more := 0, false
		for {
			ok, err := p.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if p.typ == 'm' {
				more = true
				break
			}
			r := mediaRank(p.typ)
			switch {
			case r < 0:
				return p.failf("%c= line not allowed in a media description", p.typ)
			case r < last:
				return p.outOfOrder()
			case r == last && !repeatable(p.typ, true):
				return p.failf("more than one %c= line in a media description", p.typ)
			}
			last = r
			if err := p.mediaLine(m); err != nil {
				return err
			}
		}
		m.Attributes = carve(p.attrs, attrs)
		m.Connections = carve(p.conns, conns)
		m.Bandwidths = carve(p.bws, bws)
		if s.Connection == nil && len(m.Connections) == 0 {
			return &ParseError{Line: mLine, Offset: mOff,
				Reason: "missing c= line: none at session level or in this media description"}
		}
		if !more {
			return nil
		}
	}
}

// mediaLine parses the current line of a media description into m.
func (p *parser) mediaLine(m *Media) *ParseError {
	switch p.typ {
	case 'i':
		return p.text(&m.Info)
	case 'c':
		var c Connection
		if err := p.connection(&c); err != nil {
			return err
		}
		p.conns = append(p.conns, c)
	case 'b':
		b, err := p.bandwidth()
		if err != nil {
			return err
		}
		p.bws = append(p.bws, b)
	case 'k':
		return p.key(&m.Key)
	case 'a':
		a, err := p.attribute()
		if err != nil {
			return err
		}
		p.attrs = append(p.attrs, a)
	}
	return nil
}

// text parses a line whose value is text (1*byte-string).
func (p *parser) text(dst *string) *ParseError {
	// An empty s= is seen from deployed UAs; RFC 8866 §5.3 asks for "s= "
	// or "s=-", but the session name carries no protocol meaning, so an
	// empty one is accepted rather than failing the whole call.
	if p.val == "" && p.typ != 's' {
		return p.failf("empty %c= line", p.typ)
	}
	*dst = p.val
	return nil
}

// key parses a k= line, kept verbatim.
func (p *parser) key(dst *string) *ParseError {
	if p.val == "" {
		return p.fail("empty k= line")
	}
	*dst = p.val
	return nil
}

// origin parses an o= line.
func (p *parser) origin(o *Origin) *ParseError {
	var f [6]string
	if !splitFields(p.val, f[:]) {
		return p.fail("o= line must have 6 fields separated by single spaces")
	}
	var ok bool
	switch {
	case !isNonWS(f[0]):
		return p.fail("invalid username in o= line")
	case !isToken(f[3]):
		return p.fail("invalid network type in o= line")
	case !isToken(f[4]):
		return p.fail("invalid address type in o= line")
	case !isNonWS(f[5]):
		return p.fail("invalid address in o= line")
	}
	if o.SessionID, ok = parseUint(f[1]); !ok {
		return p.failf("invalid session id %.32q in o= line", f[1])
	}
	if o.SessionVersion, ok = parseUint(f[2]); !ok {
		return p.failf("invalid session version %.32q in o= line", f[2])
	}
	o.Username, o.NetType, o.AddrType, o.Address = f[0], f[3], f[4], f[5]
	return nil
}

// connection parses a c= line.
func (p *parser) connection(c *Connection) *ParseError {
	var f [3]string
	if !splitFields(p.val, f[:]) {
		return p.fail("c= line must be <nettype> <addrtype> <connection-address>")
	}
	switch {
	case !isToken(f[0]):
		return p.fail("invalid network type in c= line")
	case !isToken(f[1]):
		return p.fail("invalid address type in c= line")
	case !isNonWS(f[2]):
		return p.fail("invalid address in c= line")
	}
	c.NetType, c.AddrType, c.Address = f[0], f[1], f[2]
	switch c.AddrType {
	case "IP4":
		base, suffix, slash := strings.Cut(c.Address, "/")
		mcast := isIP4Multicast(base)
		if !slash {
			if mcast {
				return p.fail("IPv4 multicast address in c= line has no TTL")
			}
			return nil
		}
		if !mcast {
			return p.fail("\"/\" suffix in c= line on an address that is not IPv4 multicast")
		}
		ttl, num, hasNum := strings.Cut(suffix, "/")
		var ok bool
		if c.TTL, ok = parseTTL(ttl); !ok {
			return p.failf("invalid TTL %.32q in c= line", ttl)
		}
		if hasNum {
			if c.NumAddrs, ok = parseInteger(num); !ok {
				return p.failf("invalid number of addresses %.32q in c= line", num)
			}
		}
		c.Address = base
	case "IP6":
		base, num, slash := strings.Cut(c.Address, "/")
		if !slash {
			return nil
		}
		if !isIP6Multicast(base) {
			return p.fail("\"/\" suffix in c= line on an address that is not IPv6 multicast")
		}
		var ok bool
		if c.NumAddrs, ok = parseInteger(num); !ok {
			return p.failf("invalid number of addresses %.32q in c= line", num)
		}
		c.Address = base
	}
	return nil
}

// bandwidth parses a b= line.
func (p *parser) bandwidth() (Bandwidth, *ParseError) {
	t, v, ok := strings.Cut(p.val, ":")
	if !ok || !isToken(t) {
		return Bandwidth{}, p.fail("b= line must be <bwtype>:<bandwidth>")
	}
	n, ok := parseUint(v)
	if !ok {
		return Bandwidth{}, p.failf("invalid bandwidth %.32q in b= line", v)
	}
	return Bandwidth{Type: t, Value: n}, nil
}

// attribute parses an a= line.
func (p *parser) attribute() (Attribute, *ParseError) {
	k, v, ok := strings.Cut(p.val, ":")
	if !isToken(k) {
		return Attribute{}, p.failf("invalid attribute name %.32q", k)
	}
	return Attribute{Key: k, Value: v, HasValue: ok}, nil
}

// mediaField parses an m= line.
func (p *parser) mediaField(m *Media) *ParseError {
	typ, v, ok := strings.Cut(p.val, " ")
	if !isToken(typ) {
		return p.failf("invalid media type %.32q in m= line", typ)
	}
	if !ok {
		return p.fail("m= line must be <media> <port> <proto> <fmt> ...")
	}
	port, v, ok := strings.Cut(v, " ")
	portNum, numPorts, hasNum := strings.Cut(port, "/")
	n, valid := parseUint(portNum)
	if !valid || n > 65535 {
		return p.failf("invalid port %.32q in m= line", portNum)
	}
	m.Port = int(n)
	if hasNum {
		if m.NumPorts, valid = parseInteger(numPorts); !valid {
			return p.failf("invalid number of ports %.32q in m= line", numPorts)
		}
	}
	if !ok {
		return p.fail("m= line must be <media> <port> <proto> <fmt> ...")
	}
	proto, v, ok := strings.Cut(v, " ")
	if !isProto(proto) {
		return p.failf("invalid transport protocol %.32q in m= line", proto)
	}
	if !ok {
		return p.fail("m= line has no media formats")
	}
	start := len(p.fmts)
	for f := range strings.SplitSeq(v, " ") {
		if !isToken(f) {
			return p.failf("invalid media format %.32q in m= line", f)
		}
		p.fmts = append(p.fmts, f)
	}
	m.Formats = carve(p.fmts, start)
	m.Type, m.Proto = typ, proto
	return nil
}
