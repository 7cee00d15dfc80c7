package sip

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parleysip/parley/internal/abnf"
)

// The parser's one-pass scanners must give the verdicts of the plain
// definitions they replace; these reference versions are those
// definitions, kept here as the oracle.

func validHeaderParamsRef(s string) bool {
	for i := 0; ; {
		n, v, hv, next, err := nextParam(s, i)
		if err {
			return false
		}
		if n == "" {
			return abnf.SkipWS(s, next) == len(s)
		}
		if !abnf.IsTokenString(n) {
			return false
		}
		if hv && v[0] != '"' {
			for k := 0; k < len(v); k++ {
				if c := v[k]; !abnf.IsToken(c) && c != ':' && c != '[' && c != ']' {
					return false
				}
			}
		}
		i = next
	}
}

// randomText builds strings from an alphabet rich in the characters the
// scanners branch on.
func randomText(r *rand.Rand, alphabet string, maxLen int) string {
	n := r.IntN(maxLen + 1)
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// randomPieces joins up to maxPieces random pieces: it reaches the deeper
// branches that random bytes rarely do.
func randomPieces(r *rand.Rand, pieces []string, maxPieces int) string {
	var b []byte
	for range r.IntN(maxPieces + 1) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

var paramPieces = []string{";", ";", "a", "b9", "=", "=", " ", "\t", "\r\n ", "\"x\"", "\"", "\\", "[::1]", ":", "[", "]", "<", "@", "%", "%4F", ",", "?", "&", "/", "-", ".", "\x00", "\xc3"}

const scanAlphabet = "ab9;;==\" \t\r\n:[]<>@%%4F,?&/.-_+!~*'()\\\x00\x7f\xc3"

func TestValidHeaderParamsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seeds := []string{"", ";a", ";a=b", " ; a = b ;c", ";a=\"x y\"", ";a=[::1]", ";a=b;", ";=b", ";a=", ";a b", ";a=\"x", ";a=b\"c\"", ";a=<b>", ";a=b c"}
	for _, s := range seeds {
		if got, want := validHeaderParams(s), validHeaderParamsRef(s); got != want {
			t.Errorf("validHeaderParams(%q) = %v, reference %v", s, got, want)
		}
	}
	for range 200000 {
		s := randomText(r, scanAlphabet, 14)
		if r.IntN(2) == 0 {
			s = randomPieces(r, paramPieces, 8)
		}
		if got, want := validHeaderParams(s), validHeaderParamsRef(s); got != want {
			t.Fatalf("validHeaderParams(%q) = %v, reference %v", s, got, want)
		}
	}
}

func validURIParamsRef(s string) bool {
	for i := 0; i < len(s); {
		if s[i] != ';' {
			return false
		}
		i++
		start := i
		for i < len(s) && s[i] != ';' && s[i] != '=' {
			if !abnf.IsParamChar(s[i]) && s[i] != '%' {
				return false
			}
			i++
		}
		if i == start {
			return false
		}
		if i < len(s) && s[i] == '=' {
			i++
			vs := i
			for i < len(s) && s[i] != ';' {
				if !abnf.IsParamChar(s[i]) && s[i] != '%' {
					return false
				}
				i++
			}
			if i == vs {
				return false
			}
		}
	}
	return abnf.ValidEscapes(s)
}

func TestValidURIParamsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		s := randomText(r, scanAlphabet, 14)
		if r.IntN(2) == 0 {
			s = randomPieces(r, paramPieces, 8)
		}
		if got, want := validURIParams(s), validURIParamsRef(s); got != want {
			t.Fatalf("validURIParams(%q) = %v, reference %v", s, got, want)
		}
	}
}

// getRef is Params.Get by the general scan alone.
func getRef(p Params, name string) (string, bool) {
	s := string(p)
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

func TestParamsGetMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	names := []string{"branch", "a", "b9", "", "a=b", "a;", "a b", "A", "=", ";"}
	for range 300000 {
		s := randomPieces(r, paramPieces, 8)
		if r.IntN(3) == 0 {
			s = ";branch=" + s
		}
		name := names[r.IntN(len(names))]
		v, ok := Params(s).Get(name)
		rv, rok := getRef(Params(s), name)
		if v != rv || ok != rok {
			t.Fatalf("Params(%q).Get(%q) = %q, %v; reference %q, %v", s, name, v, ok, rv, rok)
		}
	}
}

// The parser looks for white space and a leading '<' in a URI only after
// the URI failed to parse, to name the error: no URI holding them parses.
func TestNoURIWithWhiteSpaceParses(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"sip:", "sips:", "tel:", "x:", "a", "b@", "@", ":5060", ";p=v", "?h=v", "[::1]", "%41", " ", "\t", "\r\n", "<", ">", "+1-2"}
	for range 300000 {
		s := randomPieces(r, pieces, 7)
		var u URI
		if parseURI(&u, s, true) != nil {
			continue
		}
		for i := 0; i < len(s); i++ {
			if abnf.IsLWSByte(s[i]) {
				t.Fatalf("parseURI(%q) succeeded despite white space", s)
			}
		}
		if s != "" && s[0] == '<' {
			t.Fatalf("parseURI(%q) succeeded despite a leading '<'", s)
		}
	}
}

// parseURI with its one-pass shortcut gives what the full parser gives.
func TestParseURIMatchesFull(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pieces := []string{"sip:", "sips:", "SIP:", "tel:", "a", "bob", "@", "@", "example.com", "10.0.0.2", ":", ":5060", ":99999", ";", ";lr", ";transport=tcp", "=", "?h=v", "?", "[::1]", "%41", "%4", "-", ".", "_", " ", ",", "&", "+1-2", "::"}
	for range 400000 {
		s := randomPieces(r, pieces, 7)
		for _, allow := range []bool{true, false} {
			var fast, full URI
			errFast := parseURI(&fast, s, allow)
			errFull := parseURIFull(&full, s, allow)
			if (errFast == nil) != (errFull == nil) || fast != full {
				t.Fatalf("parseURI(%q, %v) = %+v, %v; full parser %+v, %v", s, allow, fast, errFast, full, errFull)
			}
			if errFast != nil && errFast.Error() != errFull.Error() {
				t.Fatalf("parseURI(%q, %v) error %v; full parser %v", s, allow, errFast, errFull)
			}
		}
	}
}

// A field remembers where its line ends; a line that runs far past its
// value (a long second value, much trailing white space) is written back
// as "Name: value" instead, with the same values.
func TestLongLineTails(t *testing.T) {
	long := strings.Repeat("a", 300)
	msg := "OPTIONS sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK" + long + "\r\n" +
		"From: <sip:a@example.com>;tag=1" + strings.Repeat(" ", 300) + "\r\n" +
		"To: <sip:bob@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n" +
		"X-Pad: v" + strings.Repeat("\t", 260) + "\r\n" +
		"X-Short: w  \r\nContent-Length: 0\r\n\r\n"
	m, err := Parse([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	out := m.String()
	for _, want := range []string{
		"Via: SIP/2.0/UDP h1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP h2;branch=z9hG4bK" + long + "\r\n",
		"From: <sip:a@example.com>;tag=1\r\n",
		"X-Pad: v\r\n",
		"X-Short: w  \r\n", // a short tail is kept as received
	} {
		if !strings.Contains(out, want) {
			t.Errorf("encoding lacks %q:\n%s", want, out)
		}
	}
	m2, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	h, h2 := m.Headers(), m2.Headers()
	if len(h2.Vias()) != 2 || h2.Vias()[1].Branch() != h.Vias()[1].Branch() || h2.From().Tag() != "1" || h2.Get("X-Pad") != "v" {
		t.Errorf("values changed in the round trip:\n%s", out)
	}
}

// TestViaRoomReused: the parser takes the room past the Vias as zero
// (addParsed stores no zero Via). After a line of two Vias that is first
// tried as one value (which fails after reading a port), every Via, in
// the inline slot, the grown array or beyond it, holds only what its own
// text says. The same for Route values.
func TestViaRoomReused(t *testing.T) {
	msg := "OPTIONS sip:b@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP a.example:5070;branch=z9hG4bKa;rport=1, SIP/2.0/TCP b.example\r\n" +
		"Via: SIP/2.0/UDP c.example\r\n" +
		"Via: SIP/2.0/TLS d.example:5061;branch=z9hG4bKd\r\n" +
		"Via: SIP/2.0/UDP e.example\r\n" +
		"Via: SIP/2.0/UDP f.example\r\n" +
		"Route: <sip:r1.example;lr>\r\nRoute: <sip:r2.example;lr>, <sip:r3.example>\r\n" +
		"Route: \"R\" <sip:r4.example>;x=1\r\nRoute: <sip:r5.example>\r\n" +
		"To: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n" +
		"Call-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	m, err := Parse([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := []Via{
		{"SIP", "2.0", "UDP", "a.example", 5070, ";branch=z9hG4bKa;rport=1"},
		{"SIP", "2.0", "TCP", "b.example", 0, ""},
		{"SIP", "2.0", "UDP", "c.example", 0, ""},
		{"SIP", "2.0", "TLS", "d.example", 5061, ";branch=z9hG4bKd"},
		{"SIP", "2.0", "UDP", "e.example", 0, ""},
		{"SIP", "2.0", "UDP", "f.example", 0, ""},
	}
	got := m.Headers().Vias()
	if len(got) != len(want) {
		t.Fatalf("%d Vias, want %d: %+v", len(got), len(want), got)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("Via %d = %+v, want %+v", k, got[k], want[k])
		}
	}
	// Routes fill the list's room past its length the same way.
	var routes []string
	for _, r := range m.Headers().Routes() {
		routes = append(routes, r.String())
	}
	wantR := []string{"<sip:r1.example;lr>", "<sip:r2.example;lr>", "<sip:r3.example>", "\"R\" <sip:r4.example>;x=1", "<sip:r5.example>"}
	if strings.Join(routes, "|") != strings.Join(wantR, "|") {
		t.Errorf("Routes = %q, want %q", routes, wantR)
	}
}
