package sip

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tortureCase is the verdict RFC 4475 gives one message (see
// testdata/torture/INDEX.md).
type tortureCase struct {
	valid bool
	// For invalid messages: the status to answer and whether a response
	// can be built at all (never for responses or unparseable input).
	status     StatusCode
	canRespond bool
	framing    bool
	// check asserts what the parsed message must expose, valid or not.
	check func(t *testing.T, m Message, pe *ParseError)
}

func req(t *testing.T, m Message) *Request {
	t.Helper()
	r, ok := m.(*Request)
	if !ok {
		t.Fatalf("got %T, want *Request", m)
	}
	return r
}

func resp(t *testing.T, m Message) *Response {
	t.Helper()
	r, ok := m.(*Response)
	if !ok {
		t.Fatalf("got %T, want *Response", m)
	}
	return r
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

var tortureCases = map[string]tortureCase{
	// §3.1.1 valid messages.
	"wsinv.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "To tag", r.To().Tag(), "1918181833n")
		want(t, "From tag", r.From().Tag(), "98asjd8")
		want(t, "From display", r.From().DisplayName(), `J Rosenberg \"`)
		mf, _ := r.MaxForwards()
		want(t, "Max-Forwards", mf, 68)
		c, _ := r.CSeq()
		want(t, "CSeq", c, CSeq{9, INVITE})
		want(t, "Via count", len(r.Vias()), 3)
		want(t, "Via[0] branch", r.Vias()[0].Branch(), "390skdjuw")
		want(t, "Via[1] transport", r.Vias()[1].Transport, "TCP")
		want(t, "Via[1] host", r.Vias()[1].Host, "spindle.example.com")
		want(t, "Via[1] branch", r.Vias()[1].Branch(), "z9hG4bK9ikj8")
		want(t, "Via[2] host", r.Vias()[2].Host, "192.168.255.111")
		want(t, "Via[2] branch", r.Vias()[2].Branch(), "z9hG4bK30239")
		want(t, "Contact display", r.Contacts()[0].DisplayName(), `Quoted string ""`)
		q, _ := r.Contacts()[0].Q()
		want(t, "Contact q", q, 330)
		nv, _ := r.Contacts()[0].Params.Get("newparam")
		want(t, "Contact newparam", nv, "newvalue")
		want(t, "Subject present", r.Has("Subject"), true)
		want(t, "Subject", r.Get("Subject"), "")
		want(t, "unknown header", r.Get("UnknownHeaderWithUnusualValue"), ";;,,;;,;")
		want(t, "NewFangledHeader unfolded", strings.Join(strings.Fields(r.Get("NewFangledHeader")), " "),
			"newfangled value continued newfangled value")
		want(t, "Route lr", r.Routes()[0].URI.Params.Has("lr"), true)
		want(t, "body length", len(r.Body), 150)
		want(t, "R-URI param", r.URI.Params.Has("unknownparam"), true)
	}},
	"intmeth.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "method", r.Method, Method("!interesting-Method0123456789_*+`.%indeed'~"))
		want(t, "method known", r.Method.Known(), false)
		want(t, "user", r.URI.User, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
		want(t, "password", r.URI.Password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
		want(t, "host", r.URI.Host, "example.com")
		want(t, "Call-ID", r.CallID(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
		want(t, "To display", r.To().DisplayName(), "BEL:\x07 NUL:\x00 DEL:\x7f")
		want(t, "From display", r.From().Display, "token1~` token2'+_ token3*%!.-")
		want(t, "From tag", r.From().Tag(), "_token~1'+`*%!-.")
		want(t, "Via branch", r.TopVia().Branch(), "z9hG4bK-.!%66*_+`'~")
		want(t, "extension header", r.Has("extensionHeader-!.%*+_`'~"), true)
	}},
	"esc01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "R-URI user unescaped", unescape(r.URI.User), "sips:user@example.com")
		u := mustURI(t, "sip:user@example.com")
		want(t, "To equals sip:user@example.com", r.To().URI.Equal(&u), true)
		want(t, "From user", unescape(r.From().URI.User), "I have spaces")
		want(t, "Contact user", unescape(r.Contacts()[0].URI.User), "caller")
		v, ok := r.Contacts()[0].URI.Params.Get("n%61me")
		want(t, "Contact escaped param present", ok, true)
		want(t, "Contact escaped param value", v, "v%61lue%25%34%31")
	}},
	"escnull.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "To user not truncated", unescape(r.To().URI.User), "null-\x00-null")
		cs := r.Contacts()
		want(t, "contacts", len(cs), 2)
		want(t, "contacts distinct", cs[0].URI.Equal(&cs[1].URI), false)
	}},
	"esc02.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "method is not REGISTER", r.Method == REGISTER, false)
		want(t, "method known", r.Method.Known(), false)
		want(t, "two Contact values", len(r.Contacts()), 2)
		want(t, "C%6Fntact is another header", r.Get("C%6Fntact"), "<sip:alias2@host2.example.com>")
		want(t, "To display kept", r.To().Display, "%Z%45")
	}},
	"lwsdisp.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		want(t, "From display", req(t, m).From().Display, "caller")
	}},
	"longreq.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "To port", r.To().URI.Port, uint16(6000))
		if len(r.From().Tag()) < 60 || len(r.CallID()) < 100 {
			t.Errorf("long values truncated: tag %d, Call-ID %d", len(r.From().Tag()), len(r.CallID()))
		}
		if len(r.Vias()) < 10 {
			t.Errorf("Via count %d, want the many values", len(r.Vias()))
		}
	}},
	"dblreq.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "method", r.Method, REGISTER)
		want(t, "trailing INVITE ignored", len(r.Body), 0)
		want(t, "encoding has no INVITE", strings.Contains(r.String(), "INVITE"), false)
	}},
	"semiuri.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "user", r.URI.User, "user;par=u%40example.net")
		want(t, "host", r.URI.Host, "example.com")
		want(t, "no URI params", r.URI.Params, Params(""))
		want(t, "Accept values", len(r.OptionTags("Accept")), 6)
	}},
	"transports.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		var got []string
		for _, v := range r.Vias() {
			got = append(got, v.Transport)
		}
		want(t, "transports", strings.Join(got, ","), "UDP,SCTP,TLS,UNKNOWN,TCP")
	}},
	"mpart01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		cl, _ := r.ContentLength()
		want(t, "body framed by Content-Length", len(r.Body), cl)
		want(t, "body holds NUL", strings.Contains(string(r.Body), "\x00"), true)
	}},
	"unreason.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := resp(t, m)
		want(t, "status", r.StatusCode, StatusOK)
		want(t, "reason starts", strings.HasPrefix(r.Reason, "= 2**3 * 5**2 "), true)
	}},
	"noreason.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := resp(t, m)
		want(t, "status", r.StatusCode, StatusTrying)
		want(t, "empty reason", r.Reason, "")
	}},
	// §3.1.2 invalid messages.
	"badinv01.dat":   {status: 400, canRespond: true},
	"clerr.dat":      {status: 400, canRespond: true},
	"ncl.dat":        {status: 400, canRespond: true, framing: true},
	"scalar02.dat":   {status: 400, canRespond: true, check: wantHeader("CSeq")},
	"scalarlg.dat":   {status: 400, check: wantHeader("CSeq")},
	"quotbal.dat":    {status: 400, canRespond: true, check: wantHeader("To")},
	"ltgtruri.dat":   {status: 400, canRespond: true},
	"lwsruri.dat":    {status: 400, canRespond: true},
	"lwsstart.dat":   {status: 400, canRespond: true},
	"trws.dat":       {status: 400, canRespond: true},
	"escruri.dat":    {status: 400, canRespond: true},
	"regbadct.dat":   {status: 400, canRespond: true, check: wantHeader("Contact")},
	"badaspec.dat":   {status: 400, canRespond: true, check: wantHeader("To")},
	"baddn.dat":      {status: 400, canRespond: true, check: wantHeader("From")},
	"badvers.dat":    {status: 505, canRespond: true},
	"mismatch01.dat": {status: 400, canRespond: true, check: wantHeader("CSeq")},
	"mismatch02.dat": {status: 501, canRespond: true, check: wantHeader("CSeq")},
	"bigcode.dat":    {status: 400},
	"baddate.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		// Syntactically a message; the Date value is what is invalid, and
		// only an element that uses Date must reject it (§3.1.2.12).
		if _, err := req(t, m).Date(); err == nil {
			t.Error("Date with EST zone accepted")
		}
	}},
	// §3.2 transaction layer.
	"badbranch.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		v := req(t, m).TopVia()
		want(t, "branch", v.Branch(), "z9hG4bK")
		want(t, "RFC 3261 branch", v.RFC3261Branch(), false)
	}},
	// §3.3 application layer.
	"insuf.dat":   {status: 400},
	"multi01.dat": {status: 400, canRespond: true},
	"mcl01.dat":   {status: 400, canRespond: true, framing: true},
	"unkscm.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "scheme", r.URI.Scheme, "nobodyKnowsThisScheme")
		want(t, "known (416 if not)", r.URI.Known(), false)
		want(t, "opaque", r.URI.Opaque, "totallyopaquecontent")
	}},
	"novelsc.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "scheme", r.URI.Scheme, "soap.beep")
		want(t, "known (416 if not)", r.URI.Known(), false)
	}},
	"unksm2.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "To scheme", r.To().URI.Scheme, "isbn")
		want(t, "To is SIP (registrar answers 400 if not)", r.To().URI.IsSIP(), false)
		want(t, "From scheme", r.From().URI.Scheme, "http")
		want(t, "Contact scheme", r.Contacts()[0].URI.Scheme, "name")
	}},
	"bext01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "Require", strings.Join(r.OptionTags("Require"), ","), "nothingSupportsThis,nothingSupportsThisEither")
		want(t, "Proxy-Require", strings.Join(r.OptionTags("Proxy-Require"), ","), "noProxiesSupportThis,norDoAnyProxiesSupportThis")
	}},
	"invut.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		typ, sub, _, err := MediaType(req(t, m).ContentType())
		if err != nil || typ+"/"+sub != "application/unknownformat" {
			t.Errorf("Content-Type = %q %q %v", typ, sub, err)
		}
	}},
	"regaut01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		as, err := req(t, m).Auths("Authorization")
		if err != nil || len(as) != 1 {
			t.Fatalf("Authorization = %v, %v", as, err)
		}
		want(t, "scheme", as[0].Scheme, "NoOneKnowsThisScheme")
		v, _ := as[0].Get("opaque-data")
		want(t, "opaque-data", v, "here")
	}},
	"bcast.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := resp(t, m)
		want(t, "second Via host", r.Vias()[1].Host, "255.255.255.255")
	}},
	"zeromf.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		mf, ok := req(t, m).MaxForwards()
		want(t, "Max-Forwards present", ok, true)
		want(t, "Max-Forwards (a proxy answers 483)", mf, 0)
	}},
	"cparam01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		c := req(t, m).Contacts()[0]
		want(t, "unknownparam is a contact-param", c.Params.Has("unknownparam"), true)
		want(t, "not a URI param", c.URI.Params.Has("unknownparam"), false)
	}},
	"cparam02.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		c := req(t, m).Contacts()[0]
		want(t, "unknownparam is a URI param", c.URI.Params.Has("unknownparam"), true)
		want(t, "not a contact-param", c.Params.Has("unknownparam"), false)
	}},
	"regescrt.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		want(t, "Contact URI headers", req(t, m).Contacts()[0].URI.Headers, "Route=%3Csip:sip.example.com%3E")
	}},
	"sdp01.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		want(t, "Accept (406 since no SDP)", req(t, m).Get("Accept"), "text/nobodyKnowsThis")
	}},
	// §3.4 backward compatibility.
	"inv2543.dat": {valid: true, check: func(t *testing.T, m Message, _ *ParseError) {
		r := req(t, m)
		want(t, "branch", r.TopVia().Branch(), "")
		want(t, "From tag", r.From().Tag(), "")
		_, hasMF := r.MaxForwards()
		want(t, "Max-Forwards absent", hasMF, false)
		_, hasCL := r.ContentLength()
		want(t, "Content-Length absent", hasCL, false)
		want(t, "body to end of datagram", strings.HasPrefix(string(r.Body), "v=0"), true)
	}},
	// Not described by RFC 4475; malformed request line, no Via: dropped.
	"test.dat": {status: 400},
}

func wantHeader(name string) func(*testing.T, Message, *ParseError) {
	return func(t *testing.T, _ Message, pe *ParseError) {
		t.Helper()
		want(t, "error header", pe.Header, name)
	}
}

func unescape(s string) string {
	u := URI{User: s}
	return u.UserUnescaped()
}

func mustURI(t *testing.T, s string) URI {
	t.Helper()
	u, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestTorture(t *testing.T) {
	files, err := filepath.Glob("testdata/torture/*.dat")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 50 {
		t.Fatalf("found %d torture files, want all 50 of RFC 4475", len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		tc, ok := tortureCases[name]
		if !ok {
			t.Errorf("%s: no verdict in the table", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			var pe *ParseError
			if tc.valid {
				if err != nil {
					t.Fatalf("valid message rejected: %v", err)
				}
				if err := roundTrip(m); err != nil {
					t.Error(err)
				}
				if r, ok := m.(*Request); ok {
					checkResponseTo(t, r, true)
				}
			} else {
				if err == nil {
					t.Fatalf("invalid message accepted:\n%s", m)
				}
				if !errors.As(err, &pe) {
					t.Fatalf("error %T is not a *ParseError: %v", err, err)
				}
				want(t, "status", pe.Status, tc.status)
				want(t, "can respond", pe.CanRespond(), tc.canRespond)
				if tc.framing {
					want(t, "framing error", pe.Framing, true)
				}
				if pe.CanRespond() {
					checkResponseTo(t, pe.Request, false)
				}
			}
			if tc.check != nil {
				tc.check(t, m, pe)
			}
		})
	}
	for name := range tortureCases {
		if !seen[name] {
			t.Errorf("verdict for %s, but no such file", name)
		}
	}
}

// checkResponseTo builds a response to r and checks §8.2.6.2: it echoes
// Via, From, Call-ID and CSeq, and it parses when the request did.
func checkResponseTo(t *testing.T, r *Request, intact bool) {
	t.Helper()
	res := NewResponse(r, StatusBadRequest)
	b := res.AppendTo(nil)
	if len(b) != res.Len() {
		t.Errorf("response Len %d != %d", res.Len(), len(b))
	}
	for _, name := range []string{"Via", "From", "Call-ID", "CSeq"} {
		var a, c []string
		for v := range r.Values(name) {
			a = append(a, v)
		}
		for v := range res.Values(name) {
			c = append(c, v)
		}
		if strings.Join(a, "\n") != strings.Join(c, "\n") {
			t.Errorf("response %s = %q, request had %q", name, c, a)
		}
	}
	if r.To() != nil && res.To().Tag() == "" {
		t.Error("response To has no tag")
	}
	if strings.Count(string(b), "\r\n\r\n") < 1 {
		t.Errorf("response has no header end:\n%s", b)
	}
	if _, err := Parse(b); err != nil && intact {
		t.Errorf("response to a valid request does not parse: %v\n%s", err, b)
	}
}
