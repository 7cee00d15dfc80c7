package sdp

import (
	"math"
	"net/netip"
	"strings"
)

// tokenChars marks the token-char set of RFC 8866 §9.
var tokenChars = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
		t[c+'a'-'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`{|}~" {
		t[c] = true
	}
	return t
}()

// isToken reports whether s matches token (1*token-char).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// isProto reports whether s matches proto (token *("/" token)).
func isProto(s string) bool {
	for {
		tok, rest, more := strings.Cut(s, "/")
		if !isToken(tok) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isNonWS reports whether s matches non-ws-string (1*(VCHAR/%x80-FF)).
func isNonWS(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// isDigits reports whether s matches 1*DIGIT.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseUint parses 1*DIGIT, reporting false on syntax error or overflow.
func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 || n > (math.MaxUint64-uint64(d))/10 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}

// parseInteger parses integer (POS-DIGIT *DIGIT), reporting false on syntax
// error or a value above math.MaxInt32.
func parseInteger(s string) (int, bool) {
	if s == "" || s[0] == '0' {
		return 0, false
	}
	n, ok := parseUint(s)
	if !ok || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// parseTTL parses ttl ((POS-DIGIT *2DIGIT) / "0") in the range 0-255.
func parseTTL(s string) (int, bool) {
	if s == "0" {
		return 0, true
	}
	if len(s) > 3 {
		return 0, false
	}
	n, ok := parseInteger(s)
	if !ok || n > 255 {
		return 0, false
	}
	return n, true
}

// parseTime parses start-time and stop-time (time / "0", where time is
// POS-DIGIT 9*DIGIT).
func parseTime(s string) (uint64, bool) {
	if s == "0" {
		return 0, true
	}
	if !isTime(s) {
		return 0, false
	}
	return parseUint(s)
}

// isTime reports whether s is a time value. The grammar says POS-DIGIT
// 9*DIGIT (an NTP time after 1968), but deployed UAs send small values such
// as "t=3600 0"; any decimal number without a leading zero is accepted, as
// the widely deployed parsers do.
func isTime(s string) bool {
	return len(s) >= 1 && s[0] != '0' && isDigits(s)
}

// isNTPTime is the strict grammar (POS-DIGIT 9*DIGIT), kept for z= where a
// short value signals a malformed line rather than a sloppy sender.
func isNTPTime(s string) bool {
	return len(s) >= 10 && s[0] != '0' && isDigits(s)
}

// isTypedTime reports whether s matches typed-time (1*DIGIT
// [fixed-len-time-unit]).
func isTypedTime(s string) bool {
	if n := len(s); n > 1 {
		switch s[n-1] {
		case 'd', 'h', 'm', 's':
			s = s[:n-1]
		}
	}
	return isDigits(s)
}

// isRepeatField reports whether v is a valid r= value: repeat-interval SP
// typed-time 1*(SP typed-time).
func isRepeatField(v string) bool {
	n := 0
	for f := range strings.SplitSeq(v, " ") {
		if n == 0 && (f == "" || f[0] == '0') {
			return false // repeat-interval starts with POS-DIGIT
		}
		if !isTypedTime(f) {
			return false
		}
		n++
	}
	return n >= 3
}

// isZoneField reports whether v is a valid z= value: time SP ["-"]
// typed-time *(SP time SP ["-"] typed-time).
func isZoneField(v string) bool {
	n := 0
	for f := range strings.SplitSeq(v, " ") {
		if n%2 == 0 {
			if !isNTPTime(f) {
				return false
			}
		} else if !isTypedTime(strings.TrimPrefix(f, "-")) {
			return false
		}
		n++
	}
	return n >= 2 && n%2 == 0
}

// splitFields splits v into exactly len(dst) non-empty fields separated by
// single spaces.
func splitFields(v string, dst []string) bool {
	for i := range dst {
		f := v
		if i < len(dst)-1 {
			j := strings.IndexByte(v, ' ')
			if j < 0 {
				return false
			}
			f, v = v[:j], v[j+1:]
		} else if strings.IndexByte(v, ' ') >= 0 {
			return false
		}
		if f == "" {
			return false
		}
		dst[i] = f
	}
	return true
}

// isIP4Multicast reports whether s is a dotted-decimal IPv4 multicast
// address.
func isIP4Multicast(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4() && a.IsMulticast()
}

// isIP6Multicast reports whether s is an IPv6 multicast address without a
// zone.
func isIP6Multicast(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == "" && a.IsMulticast()
}
