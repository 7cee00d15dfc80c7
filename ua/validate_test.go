package ua

import (
	"context"
	"os"
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
