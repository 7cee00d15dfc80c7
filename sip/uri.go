package sip

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/parleysip/parley/internal/abnf"
)

// URI is a SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966), or any other
// absolute URI kept opaque (RFC 3261 §25.1 absoluteURI; RFC 4475 §3.3.2).
//
// Components hold the text as written on the wire, escapes included, so
// that a URI forwarded untouched is byte-identical; [URI.Equal] applies the
// comparison rules of §19.1.4 (escapes of unreserved characters, case
// folding of host and parameter names).
type URI struct {
	// Scheme is "sip", "sips", "tel" or another scheme, as written.
	Scheme string
	// User is the user part of a sip/sips URI, or the telephone-subscriber
	// number of a tel URI (escaped as on the wire).
	User string
	// Password follows "user:" (§19.1.1; its use is NOT RECOMMENDED).
	Password string
	// Host is a host name, an IPv4 address or an IPv6 address without
	// brackets. Empty for tel and opaque URIs.
	Host string
	// Port is 0 when the URI names no port (§19.1.4: an absent port does not
	// equal an explicit 5060).
	Port uint16
	// Params are the uri-parameters (sip/sips) or tel parameters.
	Params Params
	// Headers is the text after '?' (without it), e.g. "subject=x&to=y".
	Headers string
	// Opaque is everything after "scheme:" for a URI whose scheme is not
	// sip, sips or tel.
	Opaque string
}

// IsSIP reports whether u is a sip or sips URI.
func (u *URI) IsSIP() bool {
	return abnf.EqualFold(u.Scheme, "sip") || abnf.EqualFold(u.Scheme, "sips")
}

// Secure reports whether u is a sips URI (§19.1, §26.2).
func (u *URI) Secure() bool { return abnf.EqualFold(u.Scheme, "sips") }

// IsTel reports whether u is a tel URI (RFC 3966).
func (u *URI) IsTel() bool { return abnf.EqualFold(u.Scheme, "tel") }

// Known reports whether the scheme is one Parley understands (sip, sips,
// tel). A UAS answers a Request-URI with another scheme with 416 (§8.2.2.1).
func (u *URI) Known() bool { return u.IsSIP() || u.IsTel() }

// Addr returns the host as an IP address when it is one.
func (u *URI) Addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(u.Host)
	return a, err == nil
}

// HostPort returns host[:port], bracketing an IPv6 address.
func (u *URI) HostPort() string {
	var b []byte
	b = appendHostPort(b, u.Host, u.Port)
	return string(b)
}

// ParseURI parses a URI in its on-the-wire form (no angle brackets).
func ParseURI(s string) (URI, error) {
	var u URI
	if err := parseURI(&u, s, true); err != nil {
		return URI{}, err
	}
	return u, nil
}

type uriError struct{ reason string }

func (e *uriError) Error() string { return "sip: invalid URI: " + e.reason }

func errURI(reason string) error { return &uriError{reason} }

// parseURI parses s into u. allowHeaders is false where the grammar forbids
// the headers component (the Request-URI, §19.1.1 Table 1).
func parseURI(u *URI, s string, allowHeaders bool) error {
	if fastSIPURI(u, s) {
		return nil
	}
	return parseURIFull(u, s, allowHeaders)
}

// fastSIPURI parses the common shape of a sip or sips URI in one pass: a
// lower-case scheme, an optional user part of plain user characters, a
// host name or IPv4 address, an optional port, and parameters. For anything
// else it reports false having changed nothing, and parseURIFull decides;
// on what it accepts, it sets what parseURIFull would.
func fastSIPURI(u *URI, s string) bool {
	var i int
	switch {
	case len(s) > 4 && s[:4] == "sip:":
		i = 4
	case len(s) > 5 && s[:5] == "sips:":
		i = 5
	default:
		return false
	}
	scheme := s[:i-1]
	// userinfo ends at the first '@' of the whole rest (see parseSIPURI):
	// a run of user characters ending at '@' is the user part. Without
	// one, the host starts here; an '@' further on then ends the host or
	// the parameters below, which reject it.
	us := i
	for i < len(s) && scanClass[s[i]]&scUser != 0 {
		i++
	}
	at := -1
	var user string
	if i < len(s) && s[i] == '@' && i > us {
		at = i - us
		user = s[us:i]
		i++
	} else {
		i = us
	}
	hs := i
	for i < len(s) && abnf.IsHostChar(s[i]) {
		i++
	}
	if i == hs {
		return false
	}
	host := s[hs:i]
	var port uint64
	hasPort := i < len(s) && s[i] == ':'
	if hasPort {
		i++
		ps := i
		for i < len(s) && abnf.IsDigit(s[i]) {
			i++
		}
		var ok bool
		if port, ok = abnf.ParseUint(s[ps:i], 65535); !ok {
			return false
		}
	}
	rest := s[i:]
	// validURIParams also rejects the '?' of a headers component.
	if rest != "" && !validURIParams(rest) {
		return false
	}
	u.Scheme, u.Host = scheme, host
	if at >= 0 {
		u.User = user
	}
	if hasPort {
		u.Port = uint16(port)
	}
	if rest != "" {
		u.Params = Params(rest)
	}
	return true
}

// parseURIFull is parseURI for any URI.
func parseURIFull(u *URI, s string, allowHeaders bool) error {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return errURI("missing scheme")
	}
	scheme := s[:colon]
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
	if !isAlpha(scheme[0]) {
		return errURI("bad scheme")
	}
	for i := 1; i < len(scheme); i++ {
		c := scheme[i]
		if !abnf.IsAlnum(c) && c != '+' && c != '-' && c != '.' {
			return errURI("bad scheme")
		}
	}
	u.Scheme = scheme
	rest := s[colon+1:]
	switch {
	case abnf.EqualFold(scheme, "sip"), abnf.EqualFold(scheme, "sips"):
		return parseSIPURI(u, rest, allowHeaders)
	case abnf.EqualFold(scheme, "tel"):
		return parseTelURI(u, rest)
	}
	// absoluteURI: hier-part / opaque-part; we keep it opaque but check it
	// holds no white space or control characters, which would make the
	// enclosing message ambiguous.
	if rest == "" {
		return errURI("empty opaque part")
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] <= ' ' || rest[i] >= 0x7f || rest[i] == '<' || rest[i] == '>' || rest[i] == '"' {
			return errURI("bad character in opaque URI")
		}
	}
	u.Opaque = rest
	return nil
}

// scanHost scans host = hostname / IPv4address / IPv6reference (§25.1)
// at s[i]. It returns the host without brackets and the index after it, or
// a reason why there is none. Underscores are accepted in names, as
// deployed resolvers do.
func scanHost(s string, i int) (host string, next int, reason string) {
	if i < len(s) && s[i] == '[' {
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return "", i, "unterminated IPv6 reference"
		}
		a, err := netip.ParseAddr(s[i+1 : i+end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", i, "bad IPv6 reference"
		}
		return s[i+1 : i+end], i + end + 1, ""
	}
	start := i
	for i < len(s) && abnf.IsHostChar(s[i]) {
		i++
	}
	if i == start {
		return "", i, "missing host"
	}
	return s[start:i], i, ""
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func parseSIPURI(u *URI, s string, allowHeaders bool) error {
	// userinfo ends at the first '@': user and password cannot hold an
	// unescaped '@', while user-unreserved allows ';', '?' and '/' in the user
	// part (RFC 4475 §3.1.1.9), so splitting on '@' first is the only
	// unambiguous order.
	if at := strings.IndexByte(s, '@'); at >= 0 {
		ui := s[:at]
		s = s[at+1:]
		// The common user part (no escapes, no password) in one scan.
		k := 0
		for k < len(ui) && abnf.IsUserChar(ui[k]) {
			k++
		}
		if k == len(ui) && k > 0 {
			u.User = ui
			goto hostport
		}
		user, pass, hasPass := strings.Cut(ui, ":")
		if user == "" {
			return errURI("empty user")
		}
		for i := 0; i < len(user); i++ {
			if !abnf.IsUserChar(user[i]) && user[i] != '%' {
				return errURI("bad character in user")
			}
		}
		if !abnf.ValidEscapes(user) {
			return errURI("bad escape in user")
		}
		if hasPass {
			for i := 0; i < len(pass); i++ {
				if !abnf.IsPasswordChar(pass[i]) && pass[i] != '%' {
					return errURI("bad character in password")
				}
			}
			if !abnf.ValidEscapes(pass) {
				return errURI("bad escape in password")
			}
		}
		u.User, u.Password = user, pass
	}
hostport:
	host, i, reason := scanHost(s, 0)
	if reason != "" {
		return errURI(reason)
	}
	u.Host = host
	if i < len(s) && s[i] == ':' {
		i++
		ps := i
		for i < len(s) && abnf.IsDigit(s[i]) {
			i++
		}
		p, ok := abnf.ParseUint(s[ps:i], 65535)
		if !ok {
			return errURI("bad port")
		}
		u.Port = uint16(p)
	}
	s = s[i:]
	if q := strings.IndexByte(s, '?'); q >= 0 {
		if !allowHeaders {
			return errURI("headers not allowed here")
		}
		h := s[q+1:]
		if !validURIHeaders(h) {
			return errURI("bad headers")
		}
		u.Headers = h
		s = s[:q]
	}
	if s != "" {
		if !validURIParams(s) {
			return errURI("bad parameters")
		}
		u.Params = Params(s)
	}
	return nil
}

// validURIHeaders checks hname "=" hvalue *( "&" hname "=" hvalue ).
func validURIHeaders(s string) bool {
	for _, h := range strings.Split(s, "&") {
		name, value, ok := strings.Cut(h, "=")
		if !ok || name == "" {
			return false
		}
		for _, part := range [2]string{name, value} {
			for i := 0; i < len(part); i++ {
				if !abnf.IsHnvChar(part[i]) && part[i] != '%' {
					return false
				}
			}
		}
	}
	return abnf.ValidEscapes(s)
}

// parseTelURI parses telephone-subscriber of RFC 3966 §3 loosely: the
// number (global "+" digits and visual separators, or a local number) and
// its parameters.
func parseTelURI(u *URI, s string) error {
	num, params, hasParams := strings.Cut(s, ";")
	if num == "" {
		return errURI("empty tel number")
	}
	for i := 0; i < len(num); i++ {
		c := num[i]
		if !(abnf.IsHex(c) || c == '+' || c == '-' || c == '.' || c == '(' || c == ')' || c == '*' || c == '#' || c == 'p' || c == 'w' || c == '%') {
			return errURI("bad character in tel number")
		}
	}
	u.User = num
	if hasParams {
		p := ";" + params
		if !validURIParams(p) {
			return errURI("bad tel parameters")
		}
		u.Params = Params(s[len(num):])
	}
	return nil
}

// Len returns the length of the encoded URI.
func (u *URI) Len() int {
	if u.Opaque != "" || !u.Known() && u.Scheme != "" {
		return len(u.Scheme) + 1 + len(u.Opaque)
	}
	n := len(u.Scheme) + 1
	if u.User != "" {
		n += len(u.User)
		if u.IsSIP() {
			n++ // '@'
		}
	}
	if u.Password != "" {
		n += 1 + len(u.Password)
	}
	n += len(u.Host)
	if strings.IndexByte(u.Host, ':') >= 0 {
		n += 2
	}
	if u.Port != 0 {
		n += 1 + decLen(uint64(u.Port))
	}
	n += len(u.Params)
	if u.Headers != "" {
		n += 1 + len(u.Headers)
	}
	return n
}

// AppendTo appends the URI's wire form to b.
func (u *URI) AppendTo(b []byte) []byte {
	b = append(b, u.Scheme...)
	b = append(b, ':')
	if u.Opaque != "" || !u.Known() && u.Scheme != "" {
		return append(b, u.Opaque...)
	}
	if u.User != "" {
		b = append(b, u.User...)
		if u.Password != "" {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		if u.IsSIP() {
			b = append(b, '@')
		}
	}
	b = appendHostPort(b, u.Host, u.Port)
	b = append(b, u.Params...)
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	return b
}

// String returns the URI's wire form.
func (u URI) String() string { return string(u.AppendTo(make([]byte, 0, u.Len()))) }

func appendHostPort(b []byte, host string, port uint16) []byte {
	if strings.IndexByte(host, ':') >= 0 {
		b = append(b, '[')
		b = append(b, host...)
		b = append(b, ']')
	} else {
		b = append(b, host...)
	}
	if port != 0 {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	return b
}

func decLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// Equal reports whether u and v are equivalent under RFC 3261 §19.1.4 for
// sip and sips URIs, RFC 3966 §4 for tel URIs, and exact (case-insensitive
// scheme) comparison otherwise.
func (u *URI) Equal(v *URI) bool {
	if !abnf.EqualFold(u.Scheme, v.Scheme) {
		// "A SIP and SIPS URI are never equivalent."
		return false
	}
	switch {
	case u.IsTel():
		return telEqual(u, v)
	case !u.IsSIP():
		return u.Opaque == v.Opaque
	}
	// "Comparison of the userinfo of SIP and SIPS URIs is case-sensitive.
	// This includes userinfo containing passwords or formatted as
	// telephone-subscribers."
	if !escapedEqual(u.User, v.User, false) || !escapedEqual(u.Password, v.Password, false) {
		return false
	}
	// "Comparison of all other components of the URI is case-insensitive
	// unless explicitly defined otherwise."
	if !escapedEqual(u.Host, v.Host, true) {
		if a, ok := u.Addr(); !ok || a != mustAddr(v.Host) {
			return false
		}
	}
	// "A URI omitting any component with a default value will not match a
	// URI explicitly containing that component with its default value."
	if u.Port != v.Port {
		return false
	}
	if !paramsEqual(u.Params, v.Params) {
		return false
	}
	return headersEqual(u.Headers, v.Headers)
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// paramsEqual applies §19.1.4's parameter rules: user, ttl, method, maddr
// and transport must match if present in either; any other parameter
// present in both must match; a parameter in only one is ignored.
//
// §19.1.1 forbids a parameter name appearing twice; should it happen, the
// first occurrence is the one compared (the one [Params.Get] returns).
func paramsEqual(a, b Params) bool {
	for n := range a.All() {
		va, _ := a.Get(n)
		vb, ok := b.Get(n)
		if !ok {
			if isSignificantParam(n) {
				return false
			}
			continue
		}
		if !escapedEqual(va, vb, true) {
			return false
		}
	}
	for n := range b.All() {
		if isSignificantParam(n) && !a.Has(n) {
			return false
		}
	}
	return true
}

func isSignificantParam(n string) bool {
	return abnf.EqualFold(n, "user") || abnf.EqualFold(n, "ttl") || abnf.EqualFold(n, "method") ||
		abnf.EqualFold(n, "maddr") || abnf.EqualFold(n, "transport")
}

// headersEqual: "Header components are never ignored. Any present header
// component MUST be present in both URIs and match for the URIs to match."
// Order does not matter; names are case-insensitive, values case-sensitive.
func headersEqual(a, b string) bool {
	if a == b {
		return true
	}
	as, bs := strings.Split(a, "&"), strings.Split(b, "&")
	if a == "" || b == "" || len(as) != len(bs) {
		return false
	}
	used := make([]bool, len(bs))
outer:
	for _, ha := range as {
		na, va, _ := strings.Cut(ha, "=")
		for j, hb := range bs {
			nb, vb, _ := strings.Cut(hb, "=")
			if !used[j] && escapedEqual(na, nb, true) && escapedEqual(va, vb, false) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// escapedEqual compares two escaped strings as §19.1.4 says: "Characters
// other than those in the 'reserved' set are equivalent to their '%' HEX
// HEX encoding." An escaped reserved character does not equal its literal.
func escapedEqual(a, b string, fold bool) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, ea, ni := unit(a, i)
		cb, eb, nj := unit(b, j)
		if ea != eb {
			return false
		}
		if fold {
			ca, cb = abnf.Lower(ca), abnf.Lower(cb)
		}
		if ca != cb {
			return false
		}
		i, j = ni, nj
	}
	return i == len(a) && j == len(b)
}

// unit decodes one character at s[i]: an escape of an unreserved character
// is that character; an escape of anything else stays "escaped".
func unit(s string, i int) (c byte, escaped bool, next int) {
	if s[i] == '%' && i+2 < len(s) && abnf.IsHex(s[i+1]) && abnf.IsHex(s[i+2]) {
		c = abnf.Unhex(s[i+1])<<4 | abnf.Unhex(s[i+2])
		return c, !abnf.IsUnreserved(c), i + 3
	}
	return s[i], false, i + 1
}

// telEqual follows RFC 3966 §4: numbers compare without visual separators,
// parameters compare as a set with case-insensitive names and values.
func telEqual(u, v *URI) bool {
	if stripVisual(u.User) != stripVisual(v.User) {
		return false
	}
	// Parameters compare as sets of names (first occurrence of each).
	for n := range u.Params.All() {
		va, _ := u.Params.Get(n)
		vb, ok := v.Params.Get(n)
		if !ok || !escapedEqual(va, vb, true) {
			return false
		}
	}
	for n := range v.Params.All() {
		if !u.Params.Has(n) {
			return false
		}
	}
	return true
}

func stripVisual(s string) string {
	if strings.IndexAny(s, "-.()") < 0 {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '-', '.', '(', ')':
		default:
			b.WriteByte(abnf.Lower(s[i]))
		}
	}
	return b.String()
}

// UserUnescaped returns the user part with its escapes resolved (RFC 4475
// §3.1.1.4: an escaped NUL is kept, not a terminator).
func (u *URI) UserUnescaped() string { return abnf.Unescape(u.User) }
