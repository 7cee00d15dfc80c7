package sip

import (
	"iter"
	"strings"

	"github.com/parleysip/parley/internal/abnf"
)

// Params is a parameter list exactly as it appears on the wire: zero or
// more ";name" or ";name=value" items, with the linear white space that
// header parameters may carry (RFC 3261 §7.3.1). The same type holds URI
// parameters (§19.1.1), which never contain white space.
//
// Params is a string so that reading it never allocates and forwarding an
// untouched list copies nothing. Names compare case-insensitively (§7.3.1,
// §19.1.4); values are returned as written, a quoted-string with its quotes
// (use [Unquote]). Set and Del return a new list.
type Params string

// paramStop marks the bytes that end a parameter name (stopName: '=', ';',
// white space) or value (stopValue: ';', white space; stopQuote adds
// DQUOTE, for the fast path of Get).
var paramStop = func() (t [256]uint8) {
	for _, c := range []byte{';', ' ', '\t', '\r', '\n'} {
		t[c] = stopName | stopValue | stopQuote
	}
	t['='] = stopName
	t['"'] = stopQuote
	return t
}()

const (
	stopName uint8 = 1 << iota
	stopValue
	stopQuote
)

// nextParam scans the item that starts at i (at the ';' or at the white
// space before it). It returns the name and raw value, the index after the
// item, and ok=false at the end of the list or on a syntax error (err).
func nextParam(s string, i int) (name, value string, hasValue bool, next int, err bool) {
	i = abnf.SkipWS(s, i)
	if i >= len(s) {
		return "", "", false, i, false
	}
	if s[i] != ';' {
		return "", "", false, i, true
	}
	i = abnf.SkipWS(s, i+1)
	start := i
	for i < len(s) && paramStop[s[i]]&stopName == 0 {
		i++
	}
	name = s[start:i]
	if name == "" {
		return "", "", false, i, true
	}
	j := abnf.SkipWS(s, i)
	if j < len(s) && s[j] == '=' {
		j = abnf.SkipWS(s, j+1)
		if j < len(s) && s[j] == '"' {
			end, ok := abnf.QuotedString(s, j)
			if !ok {
				return "", "", false, end, true
			}
			return name, s[j:end], true, end, false
		}
		vs := j
		for j < len(s) && paramStop[s[j]]&stopValue == 0 {
			j++
		}
		if j == vs {
			return "", "", false, j, true
		}
		return name, s[vs:j], true, j, false
	}
	return name, "", false, i, false
}

// Get returns the value of the first parameter called name (case-insensitive)
// and whether it is present. A parameter without a value ("lr") is present
// with value "".
func (p Params) Get(name string) (string, bool) {
	s := string(p)
	// The parameter asked for is often the first, written as asked
	// (";branch=z9hG4bK..."): its plain value is read without the general
	// scan. Quoted, empty or spaced values take the general path.
	if n := len(name); len(s) > n+2 && s[0] == ';' && s[n+1] == '=' && s[1:n+1] == name && plainParamName(name) {
		j := n + 2
		for j < len(s) && paramStop[s[j]]&stopQuote == 0 {
			j++
		}
		if j > n+2 && (j == len(s) || s[j] != '"') {
			return s[n+2 : j], true
		}
	}
	for i := 0; ; {
		n, v, _, next, err := nextParam(s, i)
		if n == "" || err {
			return "", false
		}
		if abnf.EqualFold(n, name) {
			return v, true
		}
		i = next
	}
}

// plainParamName reports whether name is one that nextParam could return:
// non-empty, without '=', ';' or white space.
func plainParamName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '=' || c == ';' || abnf.IsLWSByte(c) {
			return false
		}
	}
	return name != ""
}

// Has reports whether a parameter called name is present.
func (p Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// All yields each parameter's name and raw value in order.
func (p Params) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := string(p)
		for i := 0; ; {
			n, v, _, next, err := nextParam(s, i)
			if n == "" || err || !yield(n, v) {
				return
			}
			i = next
		}
	}
}

// Len returns the number of parameters.
func (p Params) Len() int {
	n := 0
	for range p.All() {
		n++
	}
	return n
}

// Del returns p without any parameter called name.
func (p Params) Del(name string) Params {
	if !p.Has(name) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	s := string(p)
	for i := 0; ; {
		n, v, hv, next, err := nextParam(s, i)
		if n == "" || err {
			break
		}
		if !abnf.EqualFold(n, name) {
			appendParamTo(&b, n, v, hv)
		}
		i = next
	}
	return Params(b.String())
}

// Set returns p with the parameter name set to value, replacing the first
// parameter of that name in place or appending it. An empty value writes a
// parameter without "=" (like "lr" or "rport").
func (p Params) Set(name, value string) Params {
	var b strings.Builder
	b.Grow(len(p) + len(name) + len(value) + 2)
	s := string(p)
	done := false
	for i := 0; ; {
		n, v, hv, next, err := nextParam(s, i)
		if n == "" || err {
			break
		}
		if abnf.EqualFold(n, name) {
			if !done {
				appendParamTo(&b, name, value, value != "")
				done = true
			}
		} else {
			appendParamTo(&b, n, v, hv)
		}
		i = next
	}
	if !done {
		appendParamTo(&b, name, value, value != "")
	}
	return Params(b.String())
}

func appendParamTo(b *strings.Builder, name, value string, hasValue bool) {
	b.WriteByte(';')
	b.WriteString(name)
	if hasValue {
		b.WriteByte('=')
		b.WriteString(value)
	}
}

// Canonical returns p without white space around the separators, as a
// generating element would write it.
func (p Params) Canonical() Params {
	s := string(p)
	clean := true
	for i := 0; i < len(s); i++ {
		if abnf.IsLWSByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return p
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; ; {
		n, v, hv, next, err := nextParam(s, i)
		if n == "" || err {
			break
		}
		appendParamTo(&b, n, v, hv)
		i = next
	}
	return Params(b.String())
}

// validHeaderParams checks *( SEMI generic-param ) (§25.1): every name a
// token, every value a token, host or quoted-string. It is one pass over s
// (the same verdicts as walking it with nextParam).
func validHeaderParams(s string) bool {
	if _, _, ok := plainParams(s); ok {
		return true
	}
	return validHeaderParamsAny(s)
}

// validHeaderParamsAny is validHeaderParams for any shape.
func validHeaderParamsAny(s string) bool {
	i := 0
	for {
		i = abnf.SkipWS(s, i)
		if i >= len(s) {
			return true
		}
		if s[i] != ';' {
			return false
		}
		i = abnf.SkipWS(s, i+1)
		start := i
		for i < len(s) && abnf.IsToken(s[i]) {
			i++
		}
		if i == start || i < len(s) && !endsParamItem(s[i]) && s[i] != '=' {
			return false
		}
		j := abnf.SkipWS(s, i)
		if j >= len(s) || s[j] != '=' {
			continue // a parameter without a value; i is after its name
		}
		j = abnf.SkipWS(s, j+1)
		if j < len(s) && s[j] == '"' {
			end, ok := abnf.QuotedString(s, j)
			if !ok {
				return false
			}
			i = end
			continue
		}
		vs := j
		for j < len(s) && abnf.IsGenValue(s[j]) {
			j++
		}
		if j == vs || j < len(s) && !endsParamItem(s[j]) {
			return false
		}
		i = j
	}
}

// endsParamItem reports whether c ends a parameter name or value: ';' or
// linear white space.
func endsParamItem(c byte) bool { return c == ';' || abnf.IsLWSByte(c) }

// validURIParams checks *( ";" uri-parameter ) of §19.1.1/§25.1: paramchar
// names and values, no white space, valid escapes, in one pass.
func validURIParams(s string) bool {
	for i := 0; i < len(s); {
		if s[i] != ';' {
			return false
		}
		i++
		start := i
		if i = paramChars(s, i); i < 0 {
			return false
		}
		if i == start {
			return false
		}
		if i < len(s) && s[i] == '=' {
			i++
			vs := i
			if i = paramChars(s, i); i < 0 || i == vs {
				return false
			}
		}
	}
	return true
}

// paramChars scans paramchar (unreserved, param-unreserved or an escape)
// from s[i] up to ';', '=' or the end, and returns where it stopped, or -1
// at any other byte or a malformed escape.
func paramChars(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case abnf.IsParamChar(c):
			i++
		case c == ';' || c == '=':
			return i
		case c == '%' && i+2 < len(s) && abnf.IsHex(s[i+1]) && abnf.IsHex(s[i+2]):
			i += 3
		default:
			return -1
		}
	}
	return i
}

// Unquote returns a quoted-string's content with its quoted-pairs
// resolved; any other string is returned unchanged.
func Unquote(s string) string { return abnf.Unquote(s) }
