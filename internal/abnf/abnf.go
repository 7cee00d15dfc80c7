package abnf

// Character classes, one bit each, from RFC 3261 §25.1.
const (
	cAlnum      = 1 << iota // ALPHA / DIGIT
	cToken                  // token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
	cUnreserved             // unreserved: alphanum / mark
	cUser                   // user-unreserved: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
	cPassword               // password extras: "&" / "=" / "+" / "$" / ","
	cParam                  // param-unreserved: "[" / "]" / "/" / ":" / "&" / "+" / "$"
	cHnv                    // hnv-unreserved: "[" / "]" / "/" / "?" / ":" / "+" / "$"
	cWord                   // word (Call-ID): alphanum / token marks / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}"
	cGen                    // gen-value without quotes: token / host (":" "[" "]" of IPv6 references)
	cHost                   // host name or IPv4 address: alphanum / "-" / "." / "_"
	cCallID                 // callid = word [ "@" word ]: word characters and "@"
)

var class [256]uint16

func init() {
	set := func(chars string, c uint16) {
		for i := 0; i < len(chars); i++ {
			class[chars[i]] |= c
		}
	}
	for b := 'a'; b <= 'z'; b++ {
		class[b] |= cAlnum | cToken | cUnreserved | cWord | cGen | cHost | cCallID
		class[b-'a'+'A'] |= cAlnum | cToken | cUnreserved | cWord | cGen | cHost | cCallID
	}
	for b := '0'; b <= '9'; b++ {
		class[b] |= cAlnum | cToken | cUnreserved | cWord | cGen | cHost | cCallID
	}
	set("-.!%*_+`'~", cToken|cGen)
	set(":[]", cGen)
	set("-._", cHost)
	set("-_.!~*'()", cUnreserved)
	set("&=+$,;?/", cUser)
	set("&=+$,", cPassword)
	set("[]/:&+$", cParam)
	set("[]/?:+$", cHnv)
	set("-.!%*_+`'~()<>:\\\"/[]?{}", cWord|cCallID)
	set("@", cCallID)
}

// IsToken reports whether b may appear in a token (§25.1).
func IsToken(b byte) bool { return class[b]&cToken != 0 }

// IsGenValue reports whether b may appear in an unquoted gen-value
// (§25.1: token / host).
func IsGenValue(b byte) bool { return class[b]&cGen != 0 }

// IsHostChar reports whether b may appear in a host name or IPv4 address
// (alphanum, "-", "."; "_" too, as deployed resolvers accept it).
func IsHostChar(b byte) bool { return class[b]&cHost != 0 }

// IsCallIDChar reports whether b may appear in a Call-ID (word
// characters and "@", §25.1).
func IsCallIDChar(b byte) bool { return class[b]&cCallID != 0 }

// IsAlnum reports whether b is an ASCII letter or digit.
func IsAlnum(b byte) bool { return class[b]&cAlnum != 0 }

// IsDigit reports whether b is an ASCII digit.
func IsDigit(b byte) bool { return b >= '0' && b <= '9' }

// IsHex reports whether b is a hexadecimal digit.
func IsHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// IsUnreserved reports whether b is in the unreserved set (§25.1).
func IsUnreserved(b byte) bool { return class[b]&cUnreserved != 0 }

// IsUserChar reports whether b may appear unescaped in the user part of a
// SIP URI (unreserved / user-unreserved).
func IsUserChar(b byte) bool { return class[b]&(cUnreserved|cUser) != 0 }

// IsPasswordChar reports whether b may appear unescaped in a password.
func IsPasswordChar(b byte) bool { return class[b]&(cUnreserved|cPassword) != 0 }

// IsParamChar reports whether b may appear unescaped in a URI parameter
// name or value (paramchar).
func IsParamChar(b byte) bool { return class[b]&(cUnreserved|cParam) != 0 }

// IsHnvChar reports whether b may appear unescaped in a URI header name
// or value (hname / hvalue).
func IsHnvChar(b byte) bool { return class[b]&(cUnreserved|cHnv) != 0 }

// IsWordChar reports whether b may appear in a word (Call-ID, §25.1).
func IsWordChar(b byte) bool { return class[b]&cWord != 0 }

// IsWS reports whether b is SP or HTAB.
func IsWS(b byte) bool { return b == ' ' || b == '\t' }

// IsLWSByte reports whether b is SP, HTAB, CR or LF.
func IsLWSByte(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// SkipWS returns the index of the first byte at or after i that is not
// linear white space. Header values are unfolded before they are scanned,
// so CR and LF count as white space here too.
func SkipWS(s string, i int) int {
	for i < len(s) && IsLWSByte(s[i]) {
		i++
	}
	return i
}

// TrimWS trims linear white space from both ends of s.
func TrimWS(s string) string {
	i, j := 0, len(s)
	for i < j && IsLWSByte(s[i]) {
		i++
	}
	for j > i && IsLWSByte(s[j-1]) {
		j--
	}
	return s[i:j]
}

// Token returns the end of the token that starts at i (i itself when s[i]
// is not a token character).
func Token(s string, i int) int {
	for i < len(s) && class[s[i]]&cToken != 0 {
		i++
	}
	return i
}

// IsTokenString reports whether s is a non-empty token.
func IsTokenString(s string) bool {
	return s != "" && Token(s, 0) == len(s)
}

// QuotedString scans a quoted-string whose opening DQUOTE is at s[i] and
// returns the index just after the closing DQUOTE. ok is false when the
// string is unterminated or holds a byte that quoted-string forbids
// (§25.1: qdtext excludes CTLs other than LWS; quoted-pair excludes CR/LF).
func QuotedString(s string, i int) (end int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return i, false
	}
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(s) || s[i] == '\r' || s[i] == '\n' {
				return i, false
			}
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n', c == 0x7f:
			return i, false
		}
	}
	return i, false
}

// Unquote removes the surrounding DQUOTEs of a quoted-string and resolves
// its quoted-pairs. A string without quotes is returned as is. It allocates
// only when s holds a quoted-pair.
func Unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	bs := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			bs = i
			break
		}
	}
	if bs < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:bs]...)
	for i := bs; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// AppendQuoted appends s as a quoted-string, escaping DQUOTE and backslash.
func AppendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// Lower returns the ASCII lower case of b.
func Lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// EqualFold reports whether a and b are equal under ASCII case folding.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && Lower(a[i]) != Lower(b[i]) {
			return false
		}
	}
	return true
}

// Unhex returns the value of a hexadecimal digit (0 for a non-hex byte).
func Unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10
	}
	return 0
}

// ValidEscapes reports whether every '%' in s starts a valid escaped
// triplet ("%" HEXDIG HEXDIG).
func ValidEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// Unescape resolves %HEX HEX escapes. It allocates only when s has one.
func Unescape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && IsHex(s[i+1]) && IsHex(s[i+2]) {
			n++
			i += 2
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)-2*n)
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && IsHex(s[i+1]) && IsHex(s[i+2]) {
			b = append(b, Unhex(s[i+1])<<4|Unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// ParseUint parses a decimal number of at most max value. Leading zeros
// are allowed (RFC 4475 §3.1.1.1). ok is false for an empty string, a
// non-digit, or a value above max.
func ParseUint(s string, max uint64) (v uint64, ok bool) {
	if s == "" {
		return 0, false
	}
	if len(s) <= 19 {
		// At most 19 digits cannot overflow: compare with max once.
		for i := 0; i < len(s); i++ {
			d := s[i] - '0'
			if d > 9 {
				return 0, false
			}
			v = v*10 + uint64(d)
		}
		if v > max {
			return 0, false
		}
		return v, true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
