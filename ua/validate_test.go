package ua

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

type recorder struct{ res *sip.Response }

func (w *recorder) Respond(res *sip.Response) error { w.res = res; return nil }
func (w *recorder) Responded() bool                 { return w.res != nil }

// TestTortureUAS answers the RFC 4475 application-level messages as a UA
// endpoint that handles INVITE, ACK, BYE, CANCEL, OPTIONS and MESSAGE
// (no REGISTER) must, per the INDEX of sip/testdata/torture.
func TestTortureUAS(t *testing.T) {
	caps := &Capabilities{Methods: []sip.Method{sip.INVITE, sip.BYE, sip.OPTIONS, sip.MESSAGE}, OptionTags: []string{"100rel", "timer"}}
	ok := stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	h := Validate(caps, nil)(ok)
	for file, want := range map[string]struct {
		code   sip.StatusCode
		header string
		value  string
	}{
		"intmeth.dat":  {501, "Allow", "ACK, CANCEL, INVITE, BYE, OPTIONS, MESSAGE"},
		"esc02.dat":    {501, "Allow", "ACK, CANCEL, INVITE, BYE, OPTIONS, MESSAGE"},
		"unkscm.dat":   {416, "", ""},
		"novelsc.dat":  {416, "", ""},
		"bext01.dat":   {420, "Unsupported", "nothingSupportsThis, nothingSupportsThisEither"},
		"invut.dat":    {415, "Accept", "application/sdp"},
		"sdp01.dat":    {406, "", ""},
		"regaut01.dat": {405, "Allow", "ACK, CANCEL, INVITE, BYE, OPTIONS, MESSAGE"},
		"zeromf.dat":   {200, "Accept", "application/sdp"},
		"wsinv.dat":    {200, "", ""},
		"esc01.dat":    {200, "", ""},
	} {
		data, err := os.ReadFile("../sip/testdata/torture/" + file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sip.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		w := &recorder{}
		h.ServeSIP(context.Background(), w, m.(*sip.Request))
		if w.res == nil || w.res.StatusCode != want.code {
			t.Errorf("%s: got %v, want %d", file, w.res, want.code)
			continue
		}
		if want.header != "" && w.res.Get(want.header) != want.value {
			t.Errorf("%s: %s = %q, want %q", file, want.header, w.res.Get(want.header), want.value)
		}
	}
}

// TestValidateContentEncoding: §8.2.3, an encoding the UAS does not
// understand gets 415 with Accept-Encoding; identity passes.
func TestValidateContentEncoding(t *testing.T) {
	caps := &Capabilities{Methods: []sip.Method{sip.MESSAGE}, Accept: []string{"text/plain"}}
	h := Validate(caps, nil)(stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}))
	for enc, want := range map[string]sip.StatusCode{"gzip": 415, "identity": 200, "": 200} {
		req := sip.NewRequest(sip.MESSAGE, sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1"})
		req.PrependVia(sip.Via{Transport: "UDP", Host: "127.0.0.1", Params: sip.Params(";branch=" + sip.NewBranch())})
		req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: "a"}, Params: sip.Params(";tag=x")})
		req.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: "b"}})
		req.SetCallID("enc@a")
		req.SetCSeq(sip.CSeq{Seq: 1, Method: sip.MESSAGE})
		req.SetBody("text/plain", []byte("hi"))
		if enc != "" {
			_ = req.Add("Content-Encoding", enc)
		}
		w := &recorder{}
		h.ServeSIP(context.Background(), w, req)
		if w.res == nil || w.res.StatusCode != want {
			t.Errorf("Content-Encoding %q: %v, want %d", enc, w.res, want)
			continue
		}
		if want == 415 && w.res.Get("Accept-Encoding") != "identity" {
			t.Errorf("415 Accept-Encoding %q", w.res.Get("Accept-Encoding"))
		}
	}
}

// newTestRequest builds a minimal valid request for the validation tests.
func newTestRequest(m sip.Method, ruri sip.URI) *sip.Request {
	req := sip.NewRequest(m, ruri)
	req.PrependVia(sip.Via{Transport: "UDP", Host: "127.0.0.1", Params: sip.Params(";branch=" + sip.NewBranch())})
	req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: "a"}, Params: sip.Params(";tag=x")})
	req.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: "b"}})
	req.SetCallID(sip.NewCallID("v"))
	req.SetCSeq(sip.CSeq{Seq: 1, Method: m})
	return req
}

// TestValidateExtensionRequired: a UAS that insists on an extension answers
// 421 with Require listing it when the request neither supports nor
// requires it (§21.4.16), and passes the request when it does.
func TestValidateExtensionRequired(t *testing.T) {
	caps := &Capabilities{Methods: []sip.Method{sip.INVITE, sip.MESSAGE}}
	caps.AddRequired(sip.INVITE, "100rel")
	if !caps.Supports("100rel") {
		t.Fatal("a required tag is not in Supported")
	}
	h := Validate(caps, nil)(stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}))
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1"}
	for _, tc := range []struct {
		method sip.Method
		header string
		want   sip.StatusCode
	}{
		{sip.INVITE, "", 421},
		{sip.INVITE, "Supported: timer", 421},
		{sip.INVITE, "Supported: timer, 100rel", 200},
		{sip.INVITE, "Require: 100rel", 200},
		{sip.MESSAGE, "", 200}, // required of INVITE only
	} {
		req := newTestRequest(tc.method, ruri)
		if name, value, ok := strings.Cut(tc.header, ": "); ok {
			_ = req.Add(name, value)
		}
		w := &recorder{}
		h.ServeSIP(context.Background(), w, req)
		if w.res == nil || w.res.StatusCode != tc.want {
			t.Errorf("%s %q: %v, want %d", tc.method, tc.header, w.res, tc.want)
			continue
		}
		if tc.want == 421 && w.res.Get("Require") != "100rel" {
			t.Errorf("421 Require = %q", w.res.Get("Require"))
		}
	}
}

// TestValidateTooManyHops: with Local set, a request for another target
// with Max-Forwards 0 gets 483, one for this UA is served (RFC 4475
// §3.3.1's zeromf.dat is for the target, so its OPTIONS is answered).
func TestValidateTooManyHops(t *testing.T) {
	caps := &Capabilities{Methods: []sip.Method{sip.INVITE, sip.OPTIONS}}
	caps.Local = func(u sip.URI) bool { return u.User == "bob" }
	h := Validate(caps, nil)(stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}))
	for _, tc := range []struct {
		user string
		mf   int
		want sip.StatusCode
	}{
		{"carol", 0, 483},
		{"carol", 1, 200},
		{"bob", 0, 200},
	} {
		req := newTestRequest(sip.INVITE, sip.URI{Scheme: "sip", User: tc.user, Host: "127.0.0.1"})
		req.SetMaxForwards(tc.mf)
		w := &recorder{}
		h.ServeSIP(context.Background(), w, req)
		if w.res == nil || w.res.StatusCode != tc.want {
			t.Errorf("%s Max-Forwards %d: %v, want %d", tc.user, tc.mf, w.res, tc.want)
		}
	}
	data, err := os.ReadFile("../sip/testdata/torture/zeromf.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	w := &recorder{}
	caps.Local = func(u sip.URI) bool { return true }
	h.ServeSIP(context.Background(), w, req)
	if w.res == nil || w.res.StatusCode != 200 {
		t.Errorf("zeromf.dat at its target: %v, want 200", w.res)
	}
	w = &recorder{}
	caps.Local = func(u sip.URI) bool { return false }
	h.ServeSIP(context.Background(), w, req)
	if w.res == nil || w.res.StatusCode != 483 {
		t.Errorf("zeromf.dat not for this UA: %v, want 483", w.res)
	}
}
