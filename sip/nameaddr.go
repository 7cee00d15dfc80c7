package sip

import (
	"strings"

	"github.com/parleysip/parley/internal/abnf"
)

// NameAddr is a name-addr or addr-spec with its header parameters, the
// value of From, To, Contact, Route, Record-Route and similar headers
// (RFC 3261 §20.10, §20.20, §20.39, §25.1).
type NameAddr struct {
	// Display is the display name as written: the content of a
	// quoted-string (quoted-pairs kept, see [NameAddr.DisplayName]) or a
	// sequence of tokens.
	Display string
	// Quoted records whether Display was a quoted-string.
	Quoted bool
	// URI is the address.
	URI URI
	// Bare records that the URI was an addr-spec written without angle
	// brackets; encoding keeps that form when it is safe (§20.10).
	Bare bool
	// Params are the header parameters after the address (tag, expires,
	// q, lr in Route...), for example ";tag=1928301774".
	Params Params
}

// Tag returns the tag parameter (§19.3), or "".
func (n *NameAddr) Tag() string {
	v, _ := n.Params.Get("tag")
	return v
}

// DisplayName returns the display name with quoted-pairs resolved.
func (n *NameAddr) DisplayName() string {
	if n.Quoted {
		return abnf.Unquote(`"` + n.Display + `"`)
	}
	return n.Display
}

// parseNameAddr parses name-addr / addr-spec followed by header params.
// It is used for one value of a header (already split at commas).
func parseNameAddr(n *NameAddr, s string) error {
	s = abnf.TrimWS(s)
	if s == "" {
		return errHeader("empty address")
	}
	i := 0
	rest := ""
	switch {
	case s[0] == '"':
		end, ok := abnf.QuotedString(s, 0)
		if !ok {
			return errHeader("unterminated quoted display name")
		}
		n.Display, n.Quoted = s[1:end-1], true
		i = abnf.SkipWS(s, end)
		if i >= len(s) || s[i] != '<' {
			return errHeader("display name without <addr-spec>")
		}
		fallthrough
	case s[0] == '<' || n.Quoted:
		return parseBracketed(n, s, i)
	default:
		// Either *(token LWS) "<" addr-spec ">" or a bare addr-spec. A '<'
		// before the first ';' (or anywhere, for a display name) decides.
		if lt := strings.IndexByte(s, '<'); lt > 0 {
			disp := abnf.TrimWS(s[:lt])
			// display-name = *(token LWS); RFC 4475 §3.1.1.6 lets the LWS
			// before '<' be absent. Anything else (an unquoted comma, as in
			// RFC 4475 §3.1.2.15) is malformed.
			for j := 0; j < len(disp); j++ {
				if !abnf.IsToken(disp[j]) && !abnf.IsLWSByte(disp[j]) {
					return errHeader("display name is not a token list")
				}
			}
			n.Display = disp
			return parseBracketed(n, s, lt)
		}
		// addr-spec: "If the URI is not enclosed in angle brackets, any
		// semicolon-delimited parameters are header-parameters, not URI
		// parameters." (§20.10)
		end := len(s)
		if semi := strings.IndexByte(s, ';'); semi >= 0 {
			end = semi
			rest = s[semi:]
		}
		us := abnf.TrimWS(s[:end])
		for j := 0; j < len(us); j++ {
			if abnf.IsLWSByte(us[j]) {
				return errHeader("white space inside addr-spec")
			}
		}
		// An addr-spec with '?' (headers) or ',' must be in brackets
		// (§20.10, RFC 4475 §3.1.2.13).
		if strings.IndexByte(us, '?') >= 0 || strings.IndexByte(us, ',') >= 0 {
			return errHeader("URI with headers or comma must be enclosed in <>")
		}
		if err := parseURI(&n.URI, us, false); err != nil {
			return err
		}
		n.Bare = true
	}
	if rest != "" {
		if !validHeaderParams(rest) {
			return errHeader("bad header parameters")
		}
		n.Params = Params(rest)
	}
	return nil
}

func parseBracketed(n *NameAddr, s string, lt int) error {
	gt := strings.IndexByte(s[lt:], '>')
	if gt < 0 {
		return errHeader("missing '>'")
	}
	gt += lt
	us := s[lt+1 : gt]
	if err := parseURI(&n.URI, us, true); err != nil {
		// RFC 4475 §3.1.2.14: no white space within the addr-spec. No URI
		// with white space parses, so it is looked for only to name the
		// error.
		for j := 0; j < len(us); j++ {
			if abnf.IsLWSByte(us[j]) {
				return errHeader("white space inside <addr-spec>")
			}
		}
		return err
	}
	rest := s[gt+1:]
	if abnf.TrimWS(rest) != "" {
		if !validHeaderParams(rest) {
			return errHeader("bad header parameters")
		}
		n.Params = Params(rest)
	}
	return nil
}

// Len returns the length of the encoded value.
func (n *NameAddr) Len() int {
	if n.bareOK() {
		return n.URI.Len() + len(n.Params)
	}
	l := 0
	if n.Display != "" || n.Quoted {
		l += len(n.Display) + 1
		if n.Quoted {
			l += 2
		}
	}
	return l + 2 + n.URI.Len() + len(n.Params)
}

// bareOK: an addr-spec may stay unbracketed only if its URI has no
// parameters, headers, commas, or question marks to confuse (§20.10).
func (n *NameAddr) bareOK() bool {
	return n.Bare && n.Display == "" && !n.Quoted && n.URI.Params == "" && n.URI.Headers == "" &&
		strings.IndexAny(n.URI.User, ",;?") < 0 && strings.IndexAny(n.URI.Opaque, ",;?") < 0
}

// AppendTo appends the value's wire form: [display-name] <URI> params.
func (n *NameAddr) AppendTo(b []byte) []byte {
	if n.bareOK() {
		b = n.URI.AppendTo(b)
		return append(b, n.Params...)
	}
	if n.Display != "" || n.Quoted {
		if n.Quoted {
			b = append(b, '"')
			b = append(b, n.Display...)
			b = append(b, '"')
		} else {
			b = append(b, n.Display...)
		}
		b = append(b, ' ')
	}
	b = append(b, '<')
	b = n.URI.AppendTo(b)
	b = append(b, '>')
	return append(b, n.Params...)
}

// String returns the value's wire form.
func (n NameAddr) String() string { return string(n.AppendTo(make([]byte, 0, n.Len()))) }

// Contact is one Contact header value (§20.10): a [NameAddr], or the
// wildcard "*" used to remove all bindings (§10.2.2).
type Contact struct {
	NameAddr
	// Star is true for the "*" value; the NameAddr is then empty.
	Star bool
}

// Expires returns the expires parameter in seconds (§10.2.1.1) and whether
// it is present and a valid delta-seconds. Values beyond 2³²-1 saturate, as
// §20.19 treats overlarge Expires values.
func (c *Contact) Expires() (uint32, bool) {
	v, ok := c.Params.Get("expires")
	if !ok {
		return 0, false
	}
	return parseDeltaSeconds(v)
}

// Q returns the q parameter in thousandths (0–1000, §20.10 qvalue) and
// whether it is present and valid.
func (c *Contact) Q() (int, bool) {
	v, ok := c.Params.Get("q")
	if !ok {
		return 0, false
	}
	return parseQValue(v)
}

func parseQValue(v string) (int, bool) {
	// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) > 1 {
		if v[1] != '.' || len(v) > 5 {
			return 0, false
		}
		scale := 100
		for i := 2; i < len(v); i++ {
			if !abnf.IsDigit(v[i]) {
				return 0, false
			}
			q += int(v[i]-'0') * scale
			scale /= 10
		}
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

func parseDeltaSeconds(v string) (uint32, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if !abnf.IsDigit(v[i]) {
			return 0, false
		}
	}
	n, ok := abnf.ParseUint(v, 1<<32-1)
	if !ok {
		return 1<<32 - 1, true
	}
	return uint32(n), true
}

// checkContact checks a Contact value without decoding it.
func checkContact(s string) error {
	if _, _, ok := scanNameAddr(s); ok {
		return nil
	}
	var x Contact
	return parseContact(&x, s)
}

func parseContact(c *Contact, s string) error {
	if abnf.TrimWS(s) == "*" {
		c.Star = true
		return nil
	}
	return parseNameAddr(&c.NameAddr, s)
}

// Len returns the length of the encoded value.
func (c *Contact) Len() int {
	if c.Star {
		return 1
	}
	return c.NameAddr.Len()
}

// AppendTo appends the value's wire form.
func (c *Contact) AppendTo(b []byte) []byte {
	if c.Star {
		return append(b, '*')
	}
	return c.NameAddr.AppendTo(b)
}

// String returns the value's wire form.
func (c Contact) String() string { return string(c.AppendTo(nil)) }
