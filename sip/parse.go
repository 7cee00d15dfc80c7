package sip

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/parleysip/parley/internal/abnf"
)

// Limits bound what the parser accepts from the wire. Everything a peer
// sends is untrusted: no count or length it gives is used to allocate
// before it is checked against these limits. The zero value means the
// defaults.
type Limits struct {
	// MaxMessageSize caps the whole message, start line to body. Zero means
	// 65535 bytes, the largest UDP payload.
	MaxMessageSize int
	// MaxHeaders caps the number of header fields (each value of a list
	// header counts). Zero means 256.
	MaxHeaders int
}

// Defaults of [Limits].
const (
	DefaultMaxMessageSize = 65535
	DefaultMaxHeaders     = 256
)

func (l Limits) maxSize() int {
	if l.MaxMessageSize > 0 {
		return l.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

func (l Limits) maxHeaders() int {
	if l.MaxHeaders > 0 {
		return l.MaxHeaders
	}
	return DefaultMaxHeaders
}

// Parse parses one message from a datagram with the default [Limits].
// See [Limits.Parse].
func Parse(data []byte) (Message, error) { return Limits{}.Parse(data) }

// Parse parses one message received as a datagram (RFC 3261 §18.3: "If a
// message is received over UDP ... the Content-Length header field ...
// indicates the size of the body; any octets beyond it are discarded";
// without one, the body runs to the end of the datagram).
//
// The message does not keep data: Parse copies it once, and every string
// in the result points into that private, immutable copy. The error is a
// *[ParseError].
func (l Limits) Parse(data []byte) (Message, error) { return l.parse(data, false) }

// parser holds the state of one parse.
type parser struct {
	src   []byte // the input as given, for offsets
	s     string // the private copy, headers unfolded
	err   *ParseError
	lines int
}

func (p *parser) fail(status StatusCode, reason, header string, off int) {
	if p.err != nil {
		return
	}
	line := 1 + bytes.Count(p.src[:min(off, len(p.src))], []byte{'\n'})
	p.err = &ParseError{Status: status, Reason: reason, Header: header, Offset: off, Line: line}
}

// headerEnd finds the empty line that ends the header section: it returns
// the index where the empty line starts and where the body starts. Without
// one the header section runs to the end (a datagram whose sender left the
// empty line off).
func headerEnd(b []byte, from int) (end, body int, ok bool) {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 1, i + 2, true
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 1, i + 3, true
		}
	}
	return len(b), len(b), false
}

func (l Limits) parse(data []byte, stream bool) (Message, error) {
	p := parser{src: data}
	// §7.5: "Implementations processing SIP messages over stream-oriented
	// transports MUST ignore any CRLF appearing before the start-line". A
	// datagram gets the same tolerance.
	start := 0
	for start < len(data) && (data[start] == '\r' || data[start] == '\n') {
		start++
	}
	if start == len(data) {
		p.fail(StatusBadRequest, "empty message", "", 0)
		return nil, p.err
	}
	if len(data)-start > l.maxSize() {
		p.fail(StatusMessageTooLarge, "message larger than the limit", "", start)
		return nil, p.err
	}
	// Start line: whether it is a status line decides the struct, which
	// is allocated with room for the fields (newRequest).
	src := data[start:]
	nl := bytes.IndexByte(src, '\n')
	if nl < 0 {
		nl = len(src)
	}
	firstLen := nl
	if firstLen > 0 && src[firstLen-1] == '\r' {
		firstLen--
	}
	var req *Request
	var resp *Response
	var h *Header
	var fields []field
	isResp := firstLen > 4 && string(src[:4]) == "SIP/"
	if isResp {
		resp, fields = newResponse(len(src))
		h = &resp.Header
	} else {
		req, fields = newRequest(len(src))
		h = &req.Header
	}
	buf := make([]byte, len(src))
	copy(buf, src)
	s := unsafe.String(unsafe.SliceData(buf), len(buf))
	p.s = s
	h.init(fields)
	h.src = s
	first := s[:firstLen]
	if isResp {
		p.parseStatusLine(resp, first, start)
		if p.err != nil {
			return nil, p.err
		}
	} else if !p.parseRequestLine(req, first, start) {
		return nil, p.err
	}

	// Header fields, one logical line at a time, up to the empty line.
	// Folding is undone in place: "CRLF followed by SP or HTAB" is LWS and
	// equivalent to a single SP (§7.3.1), so CR and LF become SP. This keeps
	// every offset, and the strings handed out stay substrings of buf
	// (bytes are only rewritten before the line holding them is read).
	off := nl + 1
	bstart := len(buf)
	for off < len(buf) {
		if buf[off] == '\n' {
			bstart = off + 1
			break
		}
		if buf[off] == '\r' && off+1 < len(buf) && buf[off+1] == '\n' {
			bstart = off + 2
			break
		}
		ls, le := off, len(buf)
		for {
			i := bytes.IndexByte(buf[off:], '\n')
			if i < 0 {
				off = len(buf)
				break
			}
			i += off
			if i+1 < len(buf) && (buf[i+1] == ' ' || buf[i+1] == '\t') {
				buf[i] = ' '
				if i > ls && buf[i-1] == '\r' {
					buf[i-1] = ' '
				}
				off = i + 1
				continue
			}
			le, off = i, i+1
			break
		}
		line := s[ls:le]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		lineOff := start + ls
		if len(h.fields) >= l.maxHeaders() {
			p.fail(StatusMessageTooLarge, "too many header fields", "", lineOff)
			break
		}
		if line == "" || abnf.IsWS(line[0]) {
			p.fail(StatusBadRequest, "continuation line without a header", "", lineOff)
			continue
		}
		var value, name string
		id, vs := commonHeader(line)
		if vs > 0 {
			name, value = line[:vs-2], line[vs:]
			if value == "" || scanClass[value[0]]&scLWS != 0 || scanClass[value[len(value)-1]]&scLWS != 0 {
				value = abnf.TrimWS(value)
			}
		} else {
			var ok bool
			if id, name, value, ok = p.headerName(line, lineOff); !ok {
				continue
			}
		}
		if id == hdrUnknown || !hdrTable[id].hot {
			h.appendRaw(id, value, line)
			continue
		}
		if err := h.addParsed(id, name, value, line); err != nil {
			p.fail(StatusBadRequest, reasonOf(err), string(hdrTable[id].name), lineOff)
			if id == hdrContentLength {
				p.err.Framing = true
			}
			// Keep a broken single-value field as raw bytes so that a 400
			// can still echo it (RFC 4475 §3.1.2.4).
			if hdrTable[id].kind == kindSingle && h.nth(id, 0) < 0 {
				h.appendRaw(id, value, line)
			}
		}
	}

	// Body (§18.3).
	var body []byte
	if cl, ok := h.ContentLength(); ok {
		if bstart+cl > len(buf) {
			p.fail(StatusBadRequest, "Content-Length larger than the message", string(HeaderContentLength), start+bstart)
			if stream {
				p.err.Framing = true
			}
		} else if cl > 0 {
			body = buf[bstart : bstart+cl : bstart+cl]
		}
	} else if stream {
		// §18.3: "In the case of stream-oriented transports such as TCP,
		// the Content-Length header field indicates the size of the body.
		// All stream-oriented transports MUST use Content-Length".
		p.fail(StatusBadRequest, "missing Content-Length on a stream", string(HeaderContentLength), start+bstart)
		p.err.Framing = true
	} else if bstart < len(buf) {
		body = buf[bstart:len(buf):len(buf)]
	}

	if req != nil {
		req.Body = body
		p.checkRequest(req, start)
		if p.err != nil {
			if h.TopVia() != nil && h.Has(string(HeaderFrom)) && h.Has(string(HeaderTo)) &&
				h.Has(string(HeaderCallID)) && h.Has(string(HeaderCSeq)) {
				p.err.Request = req
			}
			return nil, p.err
		}
		return req, nil
	}
	resp.Body = body
	p.checkResponse(resp, start)
	if p.err != nil {
		return nil, p.err
	}
	return resp, nil
}

// parseRequestLine parses Method SP Request-URI SP SIP-Version (§7.1,
// §25.1). It returns false when the line is not a request line at all (no
// response can be built then).
func (p *parser) parseRequestLine(r *Request, line string, off int) bool {
	// The usual line: a token, SP, ..., " SIP/2.0". Its method and version
	// are checked by these scans; any other line takes the general path,
	// which names what is wrong.
	sp1 := 0
	for sp1 < len(line) && scanClass[line[sp1]]&scToken != 0 {
		sp1++
	}
	sp2 := len(line) - len(" SIP/2.0")
	if sp1 == 0 || sp1 >= len(line) || line[sp1] != ' ' || sp2 <= sp1 || line[sp2:] != " SIP/2.0" {
		sp1 = strings.IndexByte(line, ' ')
		sp2 = strings.LastIndexByte(line, ' ')
		if sp1 <= 0 || sp2 == sp1 {
			p.fail(StatusBadRequest, "malformed request line", "", off)
			return false
		}
		if !abnf.IsTokenString(line[:sp1]) {
			p.fail(StatusBadRequest, "bad method", "", off)
			return false
		}
	}
	r.Method = internMethod(line[:sp1])
	uri := line[sp1+1 : sp2]
	ver := line[sp2+1:]
	// No URI with white space or a leading '<' parses, so those are
	// looked for only to name the error.
	if uri == "" {
		p.fail(StatusBadRequest, "white space in Request-URI", "", off+sp1+1)
	} else if err := parseURI(&r.URI, uri, false); err != nil {
		switch {
		case strings.IndexByte(uri, ' ') >= 0 || strings.IndexByte(uri, '\t') >= 0:
			// RFC 4475 §3.1.2.8 and §3.1.2.9: extra or embedded SP.
			r.URI = URI{}
			p.fail(StatusBadRequest, "white space in Request-URI", "", off+sp1+1)
		case uri[0] == '<':
			// RFC 4475 §3.1.2.7.
			r.URI = URI{}
			p.fail(StatusBadRequest, "Request-URI enclosed in <>", "", off+sp1+1)
		default:
			// RFC 4475 §3.1.2.11: escaped headers in the Request-URI.
			p.fail(StatusBadRequest, reasonOf(err), "", off+sp1+1)
		}
	}
	if ver != Version {
		p.checkVersion(ver, off+sp2+1)
	}
	return true
}

// checkVersion accepts "SIP/2.0" (case-insensitive, §7.1) and answers 505
// to a well-formed other version (§8.2... RFC 4475 §3.1.2.16).
func (p *parser) checkVersion(v string, off int) {
	if abnf.EqualFold(v, Version) {
		return
	}
	if len(v) > 4 && abnf.EqualFold(v[:4], "SIP/") {
		major, minor, ok := strings.Cut(v[4:], ".")
		if _, okA := abnf.ParseUint(major, 1<<16); okA && ok {
			if _, okB := abnf.ParseUint(minor, 1<<16); okB {
				p.fail(StatusVersionNotSupported, "unsupported SIP version "+v, "", off)
				return
			}
		}
	}
	p.fail(StatusBadRequest, "malformed SIP version", "", off)
}

// parseStatusLine parses SIP-Version SP Status-Code SP Reason-Phrase.
func (p *parser) parseStatusLine(r *Response, line string, off int) {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		p.fail(StatusBadRequest, "malformed status line", "", off)
		return
	}
	if !abnf.EqualFold(line[:sp1], Version) {
		p.fail(StatusVersionNotSupported, "unsupported SIP version", "", off)
		return
	}
	rest := line[sp1+1:]
	code, reason, ok := strings.Cut(rest, " ")
	// Status-Code = 3DIGIT; 100–699 (§7.2, RFC 4475 §3.1.2.19).
	n, nok := abnf.ParseUint(code, 999)
	if !ok || len(code) != 3 || !nok || n < 100 || n > 699 {
		p.fail(StatusBadRequest, "bad status code", "", off+sp1+1)
		return
	}
	for i := 0; i < len(reason); i++ {
		if c := reason[i]; c < 0x20 && c != '\t' || c == 0x7f {
			p.fail(StatusBadRequest, "control character in reason phrase", "", off+sp1+5+i)
			return
		}
	}
	r.StatusCode, r.Reason = StatusCode(n), reason
}

// checkRequest applies the message-level rules every request must meet.
func (p *parser) checkRequest(r *Request, off int) {
	h := &r.Header
	// §8.1.1: "A valid SIP request formulated by a UAC MUST, at a minimum,
	// contain the following header fields: To, From, CSeq, Call-ID,
	// Max-Forwards, and Via". Max-Forwards is not enforced: RFC 2543
	// requests lack it and RFC 4475 §3.4.1 asks that they be accepted.
	const all = hasFrom | hasTo | hasCallID | hasCSeq
	if len(h.via) == 0 || h.has&all != all {
		for _, need := range [...]HeaderName{HeaderVia, HeaderFrom, HeaderTo, HeaderCallID, HeaderCSeq} {
			if !h.Has(string(need)) {
				p.fail(StatusBadRequest, "missing mandatory header", string(need), off)
			}
		}
	}
	// §8.1.1.5 / RFC 4475 §3.1.2.17: the CSeq method must match the
	// request method. For an unknown method 501 is the better answer
	// (RFC 4475 §3.1.2.18).
	if c, ok := h.CSeq(); ok && c.Method != r.Method {
		status := StatusBadRequest
		if !r.Method.Known() {
			status = StatusNotImplemented
		}
		p.fail(status, "CSeq method does not match the request method", string(HeaderCSeq), off)
	}
}

func (p *parser) checkResponse(r *Response, off int) {
	h := &r.Header
	if len(h.via) == 0 || h.has&hasFrom == 0 || h.has&hasTo == 0 || h.callID == "" || h.has&hasCSeq == 0 {
		p.fail(StatusBadRequest, "response lacks Via, From, To, Call-ID or CSeq", "", off)
	}
}

// addParsed adds a parsed hot header field at the end: what addTyped does,
// with a short path for the common case of one value on the line, parsed
// straight into its place in the message. A list value is first parsed as
// one value: one that parses holds no comma that separates list elements
// (every comma it may hold is inside a quoted-string or the <> of an
// address, where listElemEnd does not split either), so only a value that
// fails and holds a comma is split (addTyped).
func (h *Header) addParsed(id hdrID, name, value, line string) error {
	if hdrTable[id].kind != kindList {
		if err := h.setSingle(id, value); err != nil {
			return err
		}
		h.appendRaw(id, value, line)
		return nil
	}
	if value == "" {
		return errHeader("empty list element")
	}
	switch id {
	case hdrVia:
		if len(h.via) == cap(h.via) && cap(h.via) < 4 {
			// Past the inline one, Vias come in stacks (one per proxy):
			// room for four at once instead of growing 2, then 4.
			h.via = append(make([]Via, 0, 4), h.via...)
		}
		if n := len(h.via); n < cap(h.via) {
			// Only the parser adds here, to a fresh Header: the room
			// past len is zero (a new allocation; the failure below
			// clears what it drops), so no zero Via is stored (storing
			// one while the collector marks costs a write barrier per
			// pointer word).
			h.via = h.via[:n+1]
		} else {
			h.via = append(h.via, Via{})
		}
		x := &h.via[len(h.via)-1]
		if err := parseVia(x, value); err != nil {
			if x.Host == "" || strings.IndexByte(value, ',') >= 0 {
				*x = Via{}
				h.via = h.via[:len(h.via)-1]
				if strings.IndexByte(value, ',') >= 0 {
					return h.addTyped(id, name, value, line, len(h.fields))
				}
				return err
			}
			// A Via whose sent-by parsed is kept (with the line as
			// received) so that a 400 can still be routed back and echo
			// it (RFC 4475 §3.1.2.1).
			x.Params = ""
			h.appendRaw(id, value, line)
			return err
		}
	case hdrRoute, hdrRecordRoute:
		// A route set is often written on one line: split it first.
		if strings.IndexByte(value, ',') >= 0 {
			return h.addTyped(id, name, value, line, len(h.fields))
		}
		list := &h.route
		if id == hdrRecordRoute {
			list = &h.rr
		}
		if *list == nil {
			*list = make([]NameAddr, 0, routeCap)
		}
		if n := len(*list); n < cap(*list) {
			// The room past len is zero, as for Via above.
			*list = (*list)[:n+1]
		} else {
			*list = append(*list, NameAddr{})
		}
		x := &(*list)[len(*list)-1]
		err := parseNameAddr(x, value)
		if err == nil && x.URI.Scheme == "" {
			err = errHeader("missing URI")
		}
		if err != nil {
			*x = NameAddr{}
			*list = (*list)[:len(*list)-1]
			return err
		}
	case hdrContact:
		// Checked now, decoded on demand (Header.Contacts): a decoded
		// Contact would add 176 bytes to every message.
		if _, _, ok := scanNameAddr(value); !ok {
			if strings.IndexByte(value, ',') >= 0 {
				return h.addTyped(id, name, value, line, len(h.fields))
			}
			var x Contact
			if err := parseContact(&x, value); err != nil {
				return err
			}
		}
		h.lazy |= lazyContact
	default:
		if strings.IndexByte(value, ',') >= 0 {
			return h.addTyped(id, name, value, line, len(h.fields))
		}
	}
	h.appendRaw(id, value, line)
	return nil
}

// headerName splits a header line into name and value the general way:
// the name is a token, then optional white space and the colon.
func (p *parser) headerName(line string, lineOff int) (id hdrID, name, value string, ok bool) {
	colon := abnf.Token(line, 0)
	name = line[:colon]
	for colon < len(line) && abnf.IsWS(line[colon]) {
		colon++
	}
	if colon == len(line) || line[colon] != ':' || name == "" {
		if strings.IndexByte(line, ':') < 0 {
			p.fail(StatusBadRequest, "header line without a colon", "", lineOff)
		} else {
			p.fail(StatusBadRequest, "bad header name", "", lineOff)
		}
		return 0, "", "", false
	}
	value = line[colon+1:]
	if len(value) > 1 && value[0] == ' ' && scanClass[value[1]]&scLWS == 0 && scanClass[value[len(value)-1]]&scLWS == 0 {
		// The usual ": value" needs no general trim.
		value = value[1:]
	} else {
		value = abnf.TrimWS(value)
	}
	return lookupHeader(name), name, value, true
}

// commonHeader recognises the hot headers written the usual way, with
// their canonical name and ": " (or their compact form and ": "), by a
// few word compares instead of a token scan and a table lookup. It
// returns where the value starts, or 0 for any other line.
func commonHeader(line string) (hdrID, int) {
	if len(line) < 4 {
		return hdrUnknown, 0
	}
	if line[1] == ':' && line[2] == ' ' {
		switch line[0] {
		case 'v':
			return hdrVia, 3
		case 'f':
			return hdrFrom, 3
		case 't':
			return hdrTo, 3
		case 'i':
			return hdrCallID, 3
		case 'm':
			return hdrContact, 3
		case 'l':
			return hdrContentLength, 3
		case 'c':
			return hdrContentType, 3
		}
		return hdrUnknown, 0
	}
	switch line[0] {
	case 'V':
		if len(line) > 5 && line[:5] == "Via: " {
			return hdrVia, 5
		}
	case 'F':
		if len(line) > 6 && line[:6] == "From: " {
			return hdrFrom, 6
		}
	case 'T':
		if len(line) > 4 && line[:4] == "To: " {
			return hdrTo, 4
		}
	case 'M':
		if len(line) > 14 && line[:14] == "Max-Forwards: " {
			return hdrMaxForwards, 14
		}
	case 'R':
		if len(line) > 7 && line[:7] == "Route: " {
			return hdrRoute, 7
		}
		if len(line) > 14 && line[:14] == "Record-Route: " {
			return hdrRecordRoute, 14
		}
	case 'C':
		switch {
		case len(line) > 9 && line[:9] == "Call-ID: ":
			return hdrCallID, 9
		case len(line) > 6 && line[:6] == "CSeq: ":
			return hdrCSeq, 6
		case len(line) > 9 && line[:9] == "Contact: ":
			return hdrContact, 9
		case len(line) > 14 && line[:14] == "Content-Type: ":
			return hdrContentType, 14
		case len(line) > 16 && line[:16] == "Content-Length: ":
			return hdrContentLength, 16
		}
	}
	return hdrUnknown, 0
}
