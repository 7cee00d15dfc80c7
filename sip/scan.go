package sip

import "github.com/parleysip/parley/internal/abnf"

// Validating scanners for the parser's hot path. Each accepts the common
// shape of a value in one pass, building nothing; on anything else it
// reports ok=false and the full parser (which also names the error)
// decides. What a scanner accepts, the full parser accepts too, with the
// same parameters (FuzzScanNameAddr holds them to that).

// scanNameAddr checks a From, To or Contact value of the shape
// [display-name] "<" sip/sips URI ">" *(SEMI generic-param), where the URI
// is the shape fastSIPURI takes (no escapes in the user part, no password,
// a host name or IPv4 address, no headers), and returns its tag parameter
// as Params.Get("tag") would.
func scanNameAddr(s string) (tag string, tagged, ok bool) {
	i := 0
	if s == "" {
		return "", false, false
	}
	switch s[0] {
	case '<':
	case '"':
		end, qok := abnf.QuotedString(s, 0)
		if !qok {
			return "", false, false
		}
		i = abnf.SkipWS(s, end)
	default:
		// display-name = *(token LWS), up to the '<' (RFC 4475 §3.1.1.6
		// lets the LWS before it be absent). Without a '<' it is an
		// addr-spec, for the full parser.
		for i < len(s) && scanClass[s[i]]&scDisplay != 0 {
			i++
		}
	}
	if i >= len(s) || s[i] != '<' {
		return "", false, false
	}
	i++
	// The URI, up to the first '>'.
	switch {
	case len(s)-i > 4 && s[i:i+4] == "sip:":
		i += 4
	case len(s)-i > 5 && s[i:i+5] == "sips:":
		i += 5
	default:
		return "", false, false
	}
	// userinfo ends at the first '@' (see parseSIPURI); a user part of
	// plain user characters ending at '@', or none: then the host starts
	// here, and an '@' further on stops the scan below.
	us := i
	for i < len(s) && scanClass[s[i]]&scUser != 0 {
		i++
	}
	if i < len(s) && s[i] == '@' && i > us {
		i++
	} else {
		i = us
	}
	hs := i
	for i < len(s) && scanClass[s[i]]&scHost != 0 {
		i++
	}
	if i == hs {
		return "", false, false
	}
	if i < len(s) && s[i] == ':' {
		i++
		ps := i
		for i < len(s) && abnf.IsDigit(s[i]) {
			i++
		}
		if _, pok := abnf.ParseUint(s[ps:i], 65535); !pok {
			return "", false, false
		}
	}
	// *( ";" pname [ "=" pvalue ] ), as validURIParams.
	for i < len(s) && s[i] == ';' {
		j := uriParamEnd(s, i+1)
		if j <= i+1 {
			return "", false, false
		}
		i = j
		if i < len(s) && s[i] == '=' {
			j = uriParamEnd(s, i+1)
			if j <= i+1 {
				return "", false, false
			}
			i = j
		}
	}
	if i >= len(s) || s[i] != '>' {
		return "", false, false
	}
	return scanHeaderParams(s[i+1:])
}

// uriParamEnd returns the end of the run of paramchar (unreserved,
// param-unreserved or a valid escape) that starts at i, or -1 at a
// malformed escape.
func uriParamEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if scanClass[c]&scParam != 0 {
			i++
			continue
		}
		if c == '%' {
			if i+2 < len(s) && abnf.IsHex(s[i+1]) && abnf.IsHex(s[i+2]) {
				i += 3
				continue
			}
			return -1
		}
		break
	}
	return i
}

// plainParams checks the usual shape of a parameter list, without white
// space or quoted strings: *( ";" token [ "=" gen-value ] ). It returns
// the tag parameter as Params.Get("tag") would. ok=false says only that s
// has another shape: validHeaderParams and scanHeaderParams accept what it
// accepts, and decide the rest.
func plainParams(s string) (tag string, tagged, ok bool) {
	for i := 0; i < len(s); {
		if s[i] != ';' {
			return "", false, false
		}
		i++
		st := i
		for i < len(s) && scanClass[s[i]]&scToken != 0 {
			i++
		}
		if i == st {
			return "", false, false
		}
		isTag := !tagged && i-st == 3 && s[st]|0x20 == 't' && s[st+1]|0x20 == 'a' && s[st+2]|0x20 == 'g'
		vs := i
		if i < len(s) && s[i] == '=' {
			i++
			vs = i
			for i < len(s) && scanClass[s[i]]&scGen != 0 {
				i++
			}
			if i == vs {
				return "", false, false
			}
		}
		if isTag {
			tag, tagged = s[vs:i], true
		}
	}
	return tag, tagged, true
}

// scanHeaderParams checks *( SEMI generic-param ) as validHeaderParams
// does and returns the tag parameter as Params.Get("tag") would on the
// same text.
func scanHeaderParams(s string) (tag string, tagged, ok bool) {
	if tag, tagged, ok := plainParams(s); ok {
		return tag, tagged, true
	}
	i := 0
	for {
		for i < len(s) && scanClass[s[i]]&scLWS != 0 {
			i++
		}
		if i >= len(s) {
			return tag, tagged, true
		}
		if s[i] != ';' {
			return "", false, false
		}
		i = abnf.SkipWS(s, i+1)
		start := i
		for i < len(s) && scanClass[s[i]]&scToken != 0 {
			i++
		}
		if i == start || i < len(s) && !endsParamItem(s[i]) && s[i] != '=' {
			return "", false, false
		}
		isTag := !tagged && i-start == 3 && s[start]|0x20 == 't' && s[start+1]|0x20 == 'a' && s[start+2]|0x20 == 'g'
		j := abnf.SkipWS(s, i)
		if j >= len(s) || s[j] != '=' {
			if isTag {
				tag, tagged = "", true
			}
			continue // a parameter without a value; i is after its name
		}
		j = abnf.SkipWS(s, j+1)
		vs := j
		if j < len(s) && s[j] == '"' {
			end, qok := abnf.QuotedString(s, j)
			if !qok {
				return "", false, false
			}
			j = end
		} else {
			for j < len(s) && scanClass[s[j]]&scGen != 0 {
				j++
			}
			if j == vs || j < len(s) && !endsParamItem(s[j]) {
				return "", false, false
			}
		}
		if isTag {
			tag, tagged = s[vs:j], true
		}
		i = j
	}
}

// scanClass holds the character classes the scanners test, one bit each,
// so that each test is one load.
var scanClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if abnf.IsToken(b) || abnf.IsLWSByte(b) {
			t[c] |= scDisplay
		}
		if abnf.IsUserChar(b) {
			t[c] |= scUser
		}
		if abnf.IsHostChar(b) {
			t[c] |= scHost
		}
		if abnf.IsParamChar(b) {
			t[c] |= scParam
		}
		if abnf.IsToken(b) {
			t[c] |= scToken
		}
		if abnf.IsGenValue(b) {
			t[c] |= scGen
		}
		if abnf.IsLWSByte(b) {
			t[c] |= scLWS
		}
	}
	return t
}()

const (
	scDisplay uint8 = 1 << iota // token or LWS: an unquoted display name
	scUser                      // unescaped user part
	scHost                      // host name or IPv4 address
	scParam                     // unescaped paramchar
	scToken                     // token
	scGen                       // unquoted gen-value
	scLWS                       // linear white space
)
