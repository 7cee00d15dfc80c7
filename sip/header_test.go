package sip

import (
	"fmt"
	"strings"
	"testing"
)

const inviteMsg = "INVITE sip:bob@biloxi.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds, SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: Bob <sip:bob@biloxi.com>\r\n" +
	"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: <sip:alice@pc33.atlanta.com>\r\n" +
	"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n" +
	"Subject: lunch\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n" +
	"\r\n" +
	"v=0\n"

func mustParseRequest(t testing.TB, s string) *Request {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, ok := m.(*Request)
	if !ok {
		t.Fatalf("got %T", m)
	}
	return r
}

func TestUntouchedRoundTripIsByteExact(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	if got := r.String(); got != inviteMsg {
		t.Errorf("round trip changed the message:\n%q\n%q", got, inviteMsg)
	}
}

func TestHeaderEdits(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	if len(r.Vias()) != 2 || len(r.Routes()) != 2 {
		t.Fatalf("vias %d routes %d", len(r.Vias()), len(r.Routes()))
	}
	// A proxy: new top Via, decrement Max-Forwards, pop a Route.
	r.PrependVia(Via{Transport: "TCP", Host: "proxy2.example.com", Params: ";branch=z9hG4bKnew"})
	mf, _ := r.MaxForwards()
	r.SetMaxForwards(mf - 1)
	if !r.RemoveTopRoute() {
		t.Fatal("RemoveTopRoute = false")
	}
	out := r.String()
	for _, want := range []string{
		"INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/TCP proxy2.example.com;branch=z9hG4bKnew\r\n" +
			"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds, SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n" +
			"Max-Forwards: 69\r\n",
		"Route: <sip:p2.example.com;lr>\r\n",
		"Subject: lunch\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "p1.example.com") {
		t.Errorf("removed Route still written:\n%s", out)
	}
	// Responses: the proxy removes its Via (§16.7 step 3).
	r.RemoveTopVia()
	r.RemoveTopVia() // splits the grouped line
	if got := r.TopVia().Host; got != "proxy.example.com" {
		t.Errorf("top Via after two removals = %q", got)
	}
	if out := r.String(); !strings.Contains(out, "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n") || strings.Contains(out, "pc33.atlanta.com;branch") {
		t.Errorf("after removing grouped Via:\n%s", out)
	}
	checkConsistent(t, r)
}

// checkConsistent re-parses the encoding and compares it to the message.
func checkConsistent(t *testing.T, m Message) {
	t.Helper()
	if err := roundTrip(m); err != nil {
		t.Error(err)
	}
}

func TestSetTopViaReceivedRPort(t *testing.T) {
	r := mustParseRequest(t, strings.Replace(inviteMsg, "branch=z9hG4bK776asdhds,", "branch=z9hG4bK776asdhds;rport,", 1))
	v := *r.TopVia()
	if p, ok := v.RPort(); !ok || p != 0 {
		t.Fatalf("RPort = %d %v", p, ok)
	}
	v.Params = v.Params.Set("received", "192.0.2.1").Set("rport", "5062")
	r.SetTopVia(v)
	if p, _ := r.TopVia().RPort(); p != 5062 {
		t.Errorf("rport = %d", p)
	}
	out := r.String()
	if !strings.Contains(out, "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport=5062;received=192.0.2.1\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n") {
		t.Errorf("Via not rewritten:\n%s", out)
	}
	checkConsistent(t, r)
}

func TestGenericHeaderOps(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	if err := r.Add("Supported", "100rel, timer"); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("k", "path"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.OptionTags("Supported"), ","); got != "100rel,timer,path" {
		t.Errorf("Supported = %q", got)
	}
	if !r.HasOptionTag("supported", "TIMER") {
		t.Error("HasOptionTag(timer) = false")
	}
	if err := r.Set("Subject", "dinner"); err != nil || r.Get("s") != "dinner" {
		t.Errorf("Set Subject: %v %q", err, r.Get("Subject"))
	}
	if err := r.Set("Call-ID", "new@id"); err != nil || r.CallID() != "new@id" {
		t.Errorf("Set Call-ID: %v %q", err, r.CallID())
	}
	if err := r.Set("CSeq", "not a cseq"); err == nil {
		t.Error("Set of a malformed CSeq accepted")
	}
	if c, _ := r.CSeq(); c.Seq != 314159 {
		t.Errorf("failed Set changed CSeq to %v", c)
	}
	if err := r.Add("Contact", "<sip:x@y>, <sip:z@w>;q=0.5"); err != nil || len(r.Contacts()) != 3 {
		t.Errorf("Add Contact: %v, %d contacts", err, len(r.Contacts()))
	}
	r.Del("Contact")
	if len(r.Contacts()) != 0 || r.Has("m") {
		t.Error("Del Contact left values")
	}
	r.SetContacts(Contact{Star: true})
	if !r.Contacts()[0].Star || r.Get("Contact") != "*" {
		t.Error("SetContacts(*)")
	}
	if err := r.Add("Bad Name", "x"); err == nil {
		t.Error("bad header name accepted")
	}
	r.Del("Subject")
	if r.Has("Subject") {
		t.Error("Del Subject")
	}
	r.SetBody("text/plain", []byte("hello"))
	if n, _ := r.ContentLength(); n != 5 || r.ContentType() != "text/plain" {
		t.Errorf("SetBody: length %d type %q", n, r.ContentType())
	}
	checkConsistent(t, r)
	if CanonicalHeaderName("i") != "Call-ID" || CanonicalHeaderName("WWW-AUTHENTICATE") != "WWW-Authenticate" || CanonicalHeaderName("X-Foo") != "X-Foo" {
		t.Error("CanonicalHeaderName")
	}
	if CompactForm("Via") != 'v' || CompactForm("Allow") != 0 {
		t.Error("CompactForm")
	}
}

func TestHeaderTable(t *testing.T) {
	seen := map[byte]hdrID{}
	for id := hdrID(1); id < hdrCount; id++ {
		info := hdrTable[id]
		if lookupHeader(string(info.name)) != id || lookupHeader(strings.ToUpper(string(info.name))) != id {
			t.Errorf("lookup of %s fails", info.name)
		}
		if c := info.compact; c != 0 {
			if prev, dup := seen[c]; dup {
				t.Errorf("compact form %c of %s already used by %s", c, info.name, hdrTable[prev].name)
			}
			seen[c] = id
			if lookupHeader(string(c)) != id || lookupHeader(strings.ToUpper(string(c))) != id {
				t.Errorf("compact lookup of %c fails", c)
			}
		}
		if !strings.HasPrefix(info.rfc, "RFC ") {
			t.Errorf("%s: rfc %q", info.name, info.rfc)
		}
	}
	if lookupHeader("X-Unknown") != hdrUnknown || lookupHeader("") != hdrUnknown || lookupHeader("Vi") != hdrUnknown {
		t.Error("unknown names must not match")
	}
}

func TestNewResponse(t *testing.T) {
	r := mustParseRequest(t, strings.Replace(inviteMsg, "Subject: lunch\r\n", "Timestamp: 54\r\nSubject: lunch\r\n", 1))
	res := NewResponse(r, StatusRinging)
	out := res.String()
	if !strings.HasPrefix(out, "SIP/2.0 180 Ringing\r\n") {
		t.Errorf("status line: %q", out)
	}
	for _, want := range []string{
		"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds, SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n",
		"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n",
		"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n",
		"CSeq: 314159 INVITE\r\n",
		"To: Bob <sip:bob@biloxi.com>;tag=",
		"Content-Length: 0\r\n\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("response lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"Timestamp", "Subject", "Route", "Max-Forwards", "Contact"} {
		if strings.Contains(out, not) {
			t.Errorf("response copies %s:\n%s", not, out)
		}
	}
	if res.To().Tag() == "" || len(res.Vias()) != 2 {
		t.Errorf("typed values: tag %q vias %d", res.To().Tag(), len(res.Vias()))
	}
	trying := NewResponse(r, StatusTrying)
	if trying.To().Tag() != "" || !strings.Contains(trying.String(), "Timestamp: 54\r\n") {
		t.Errorf("100 Trying must copy Timestamp and add no tag:\n%s", trying)
	}
	res.SetToTag("dialogtag")
	if res.To().Tag() != "dialogtag" || strings.Count(res.String(), "tag=") != 2 {
		t.Errorf("SetToTag:\n%s", res)
	}
	checkConsistent(t, res)
	// The response is independent of the request.
	r.SetCallID("changed")
	if res.CallID() != "a84b4c76e66710@pc33.atlanta.com" {
		t.Error("response shares state with the request")
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		b := NewBranch()
		if !strings.HasPrefix(b, MagicCookie) || len(b) < len(MagicCookie)+16 || seen[b] {
			t.Fatalf("bad or repeated branch %q", b)
		}
		seen[b] = true
		v := Via{Params: Params(";branch=" + b)}
		if !v.RFC3261Branch() {
			t.Fatalf("branch %q not recognised", b)
		}
	}
	tag, id := NewTag(), NewCallID("host.example.com")
	if len(tag) < 8 || !strings.HasSuffix(id, "@host.example.com") || NewTag() == tag {
		t.Errorf("tag %q call-id %q", tag, id)
	}
}

// TestHotPathAllocations holds the allocation budget of DESIGN.md: reading
// the Via branch, Call-ID and CSeq of a parsed message costs nothing.
func TestHotPathAllocations(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	var sink int
	n := testing.AllocsPerRun(100, func() {
		v := r.TopVia()
		sink += len(v.Branch())
		sink += len(r.CallID())
		c, _ := r.CSeq()
		sink += int(c.Seq)
		sink += len(r.From().Tag())
	})
	if n != 0 {
		t.Errorf("reading branch, Call-ID, CSeq, tag allocates %v times", n)
	}
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendTo(buf[:0]) }); n != 0 {
		t.Errorf("AppendTo into a large enough buffer allocates %v times", n)
	}
	data := []byte(inviteMsg)
	// Budget: the private copy and the message (with its fields), plus
	// one each for the second Via and the Route list this INVITE has.
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(data) }); n > 4 {
		t.Errorf("Parse allocates %v times, budget 4", n)
	}
	// A typical UA request (one Via, no Route, a Contact): 2.
	ua := []byte(strings.Replace(strings.Replace(inviteMsg, ", SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1", "", 1), "Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n", "", 1))
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(ua) }); n > 2 {
		t.Errorf("Parse of a UA INVITE allocates %v times, budget 2", n)
	}
	// The fields get room in the message's allocation, as much as the
	// message's length suggests: the 20 of a 1.3 KB INVITE take no
	// allocation of their own.
	var extra strings.Builder
	for i := range 13 {
		fmt.Fprintf(&extra, "X-H%d: value %d\r\n", i, i)
	}
	body := strings.Repeat("a=x-filler:0123456789abcdef0123456789abcdef\r\n", 16)
	many := []byte(strings.Replace(optionsMsg, "Content-Length: 0\r\n", extra.String()+fmt.Sprintf("Content-Length: %d\r\n", len(body)), 1) + body)
	if m, err := Parse(many); err != nil || m.Headers().Get("X-H12") != "value 12" || m.String() != string(many) {
		t.Fatalf("message with 20 fields: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(many) }); n > 2 {
		t.Errorf("Parse of a message with 20 fields allocates %v times, budget 2", n)
	}
	_ = sink
}

func TestLimits(t *testing.T) {
	big := strings.Replace(inviteMsg, "Subject: lunch\r\n", "Subject: "+strings.Repeat("x", 70000)+"\r\n", 1)
	_, err := Parse([]byte(big))
	pe, ok := err.(*ParseError)
	if !ok || pe.Status != StatusMessageTooLarge || pe.CanRespond() {
		t.Errorf("oversized message: %v", err)
	}
	many := strings.Replace(inviteMsg, "Subject: lunch\r\n", strings.Repeat("X-A: b\r\n", 300), 1)
	_, err = Limits{MaxHeaders: 100}.Parse([]byte(many))
	if pe, ok := err.(*ParseError); !ok || pe.Status != StatusMessageTooLarge {
		t.Errorf("too many headers: %v", err)
	}
	if _, err := (Limits{MaxHeaders: 400}).Parse([]byte(many)); err != nil {
		t.Errorf("under a raised limit: %v", err)
	}
}

func TestParseErrorsMisc(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		status    StatusCode
	}{
		{"empty", "\r\n\r\n", 400},
		{"response bad version", "SIP/3.0 200 OK\r\n\r\n", 505},
		{"response code 2 digits", "SIP/2.0 20 OK\r\n\r\n", 400},
		{"no colon", strings.Replace(inviteMsg, "Subject: lunch", "Subject lunch", 1), 400},
		{"bad Max-Forwards", strings.Replace(inviteMsg, "Max-Forwards: 70", "Max-Forwards: 7x", 1), 400},
		{"bad Call-ID", strings.Replace(inviteMsg, "Call-ID: a84b4c76e66710@pc33.atlanta.com", "Call-ID: a b", 1), 400},
		{"empty Via element", strings.Replace(inviteMsg, "branch=z9hG4bK776asdhds,", "branch=z9hG4bK776asdhds,,", 1), 400},
		{"response missing Via", "SIP/2.0 200 OK\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", 400},
	} {
		_, err := Parse([]byte(tc.msg))
		pe, ok := err.(*ParseError)
		if !ok || pe.Status != tc.status {
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		}
	}
	// Max-Forwards beyond 255 is treated as absent (RFC 4475 §3.1.2.4).
	r := mustParseRequest(t, strings.Replace(inviteMsg, "Max-Forwards: 70", "Max-Forwards: 300", 1))
	if _, ok := r.MaxForwards(); ok {
		t.Error("Max-Forwards 300 reported as present")
	}
	// LF-only line endings are tolerated.
	lf := strings.ReplaceAll(inviteMsg, "\r\n", "\n")
	if m, err := Parse([]byte(lf)); err != nil || string(m.Payload()) != "v=0\n" {
		t.Errorf("LF-only message: %v", err)
	}
}

// TestLongValueField covers values longer than 64 KiB and values that
// start further than 64 KiB into their line (a limit above the default
// lets both in): they keep their values, are written back whole, and
// re-parse.
func TestLongValueField(t *testing.T) {
	long := strings.Repeat("x", 70000)
	lim := Limits{MaxMessageSize: 1 << 20}
	for _, line := range []string{
		"Subject: " + long,
		"Subject:" + strings.Repeat(" ", 70000) + "short",
	} {
		msg := strings.Replace(optionsMsg, "Content-Length: 0\r\n", line+"\r\nContent-Length: 0\r\n", 1)
		m, err := lim.Parse([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimLeft(line[len("Subject:"):], " ")
		if got := m.Headers().Get("Subject"); got != want {
			t.Fatalf("Subject of %d bytes, want %d", len(got), len(want))
		}
		out := m.String()
		if !strings.Contains(out, "\r\n"+line+"\r\n") || len(out) != m.Len() {
			t.Fatalf("written as %d bytes (Len %d), Subject not as received", len(out), m.Len())
		}
		m2, err := lim.Parse([]byte(out))
		if err != nil || m2.Headers().Get("Subject") != want {
			t.Fatalf("re-parse: %v", err)
		}
	}
}
