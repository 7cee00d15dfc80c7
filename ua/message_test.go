package ua

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

// TestMessage: MESSAGE out of and within a dialog (RFC 3428), 413 above
// the receiver's limit, ErrTooLarge above the sender's over UDP (§8), and
// 481 for an unknown dialog.
func TestMessage(t *testing.T) {
	var mu sync.Mutex
	var got []string
	answered := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.MaxMessageSize = 64
		u.OnMessage = func(_ context.Context, s *Session, req *sip.Request) sip.StatusCode {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, string(req.Body)+map[bool]string{true: " (in dialog)", false: ""}[s != nil])
			return sip.StatusOK
		}
		u.OnInvite = answering(audio(40002), answered, nil)
	})
	a := newAgent(t, "alice", nil)
	ctx := t.Context()
	res, err := a.Message(ctx, b.uri("bob"), "text/plain", []byte("hello"), b.dest())
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("MESSAGE: %v %v", res, err)
	}
	_, err = a.Message(ctx, b.uri("bob"), "text/plain", []byte(strings.Repeat("x", 65)), b.dest())
	var se *StatusError
	if !errors.As(err, &se) || se.Response.StatusCode != sip.StatusRequestEntityTooLarge {
		t.Errorf("oversize MESSAGE: %v, want 413", err)
	}
	if _, err := a.Message(ctx, b.uri("bob"), "text/plain", make([]byte, DefaultMaxMessageSize+1), b.dest()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("sending 1301 bytes over UDP: %v", err)
	}
	_, err = a.Message(ctx, b.uri("bob"), "application/x-unknown", []byte("?"), b.dest())
	if !errors.As(err, &se) || se.Response.StatusCode != sip.StatusUnsupportedMediaType {
		t.Errorf("unknown type: %v, want 415", err)
	}
	s, bs := call(t, a, b, answered, CallOptions{Media: audio(40000)})
	if _, err := s.Message(ctx, "text/plain", []byte("in call")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 2 || got[0] != "hello" || got[1] != "in call (in dialog)" {
		t.Errorf("received %q", got)
	}
	mu.Unlock()
	r := newRaw(t)
	m := r.request(sip.MESSAGE, b.uri("bob"), "nodialog@127.0.0.1", "rawtag", "nosuchtag", 1)
	m.SetBody("text/plain", []byte("hi"))
	r.send(m, b.addr)
	r.expectResponse(sip.StatusCallTransactionDoesNotExist)
	_ = s.Bye(ctx, nil)
	<-bs.Done()
}

// TestInfo: Info Packages (RFC 6086): Recv-Info in the INVITE (empty when
// none) and in the 2xx, INFO for a package the peer accepts, ErrInfoPackage
// for one it did not list, 469 with Recv-Info for an unregistered one,
// legacy INFO without Info-Package, and 481 outside a dialog.
func TestInfo(t *testing.T) {
	var mu sync.Mutex
	var got []string
	answered := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.Caps().AddInfoPackages("dtmf")
		u.Caps().AddAccept("application/dtmf")
		u.OnInfo = func(_ context.Context, s *Session, req *sip.Request) sip.StatusCode {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, req.Get("Info-Package")+":"+string(req.Body))
			return sip.StatusOK
		}
		u.OnInvite = answering(audio(40002), answered, nil)
	})
	a := newAgent(t, "alice", nil)
	s, bs := call(t, a, b, answered, CallOptions{Media: audio(40000)})
	inv := b.wire.find("INVITE ")
	if !strings.Contains(inv, "Recv-Info: \r\n") {
		t.Errorf("INVITE without an empty Recv-Info:\n%s", inv)
	}
	if p := s.RemoteInfoPackages(); len(p) != 1 || p[0] != "dtmf" {
		t.Fatalf("callee's Recv-Info %v", p)
	}
	ctx := t.Context()
	if _, err := s.Info(ctx, "dtmf", "application/dtmf", []byte("Signal=5\r\nDuration=160\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ctx, "", "", nil); err != nil { // legacy
		t.Fatal(err)
	}
	if _, err := bs.Info(ctx, "dtmf", "application/dtmf", []byte("Signal=1\r\n")); !errors.Is(err, ErrInfoPackage) {
		t.Errorf("INFO to a peer without Recv-Info: %v", err)
	}
	mu.Lock()
	if len(got) != 2 || got[0] != "dtmf:Signal=5\r\nDuration=160\r\n" || got[1] != ":" {
		t.Errorf("received %q", got)
	}
	mu.Unlock()
	if strings.Contains(a.wire.find("INFO "), "Recv-Info") {
		t.Error("INFO with Recv-Info (RFC 6086 §4.2.1: MUST NOT)")
	}
	// A package bob did not register: 469 with his Recv-Info.
	d := s.Dialog()
	req, _ := d.NewRequest(sip.INFO)
	_ = req.Add("Info-Package", "foo")
	res, err := s.do(ctx, d, req)
	if err != nil || res.StatusCode != sip.StatusBadInfoPackage || res.Get("Recv-Info") != "dtmf" {
		t.Fatalf("INFO for foo: %v %v", res, err)
	}
	if s.State() != SessionConfirmed {
		t.Error("a 469 ended the session (it is a transaction-only failure)")
	}
	r := newRaw(t)
	info := r.request(sip.INFO, b.uri("bob"), "x@127.0.0.1", "rawtag", "", 1)
	r.send(info, b.addr)
	r.expectResponse(sip.StatusCallTransactionDoesNotExist)
	_ = s.Bye(ctx, nil)
	<-bs.Done()
}

// TestOptions: OPTIONS is answered 200 with Allow, Supported and Accept
// from the capabilities registry (§11.2), listing every method and option
// tag the UA implements.
func TestOptions(t *testing.T) {
	b := newAgent(t, "bob", nil)
	r := newRaw(t)
	r.send(r.request(sip.OPTIONS, b.uri("bob"), "opt@127.0.0.1", "rawtag", "", 1), b.addr)
	res := r.expectResponse(sip.StatusOK)
	allow := res.Allow()
	for _, m := range []sip.Method{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS, sip.PRACK, sip.UPDATE, sip.INFO, sip.MESSAGE} {
		found := false
		for _, x := range allow {
			found = found || x == m
		}
		if !found {
			t.Errorf("Allow %v lacks %s", allow, m)
		}
	}
	if len(allow) != 9 {
		t.Errorf("Allow %v: %d methods, want 9", allow, len(allow))
	}
	if !res.HasOptionTag("Supported", "100rel") {
		t.Errorf("Supported %q", res.Get("Supported"))
	}
	if acc := res.Get("Accept"); !strings.Contains(acc, "application/sdp") || !strings.Contains(acc, "text/plain") {
		t.Errorf("Accept %q", acc)
	}
	// A method the UA does not handle: 405 with the same Allow (§8.2.1).
	r.send(r.request(sip.SUBSCRIBE, b.uri("bob"), "sub@127.0.0.1", "rawtag", "", 1), b.addr)
	res405 := r.expectResponse(sip.StatusMethodNotAllowed)
	if res405.Get("Allow") != res.Get("Allow") {
		t.Errorf("405 Allow %q, OPTIONS Allow %q", res405.Get("Allow"), res.Get("Allow"))
	}
}

// TestHandleExtraMethod: a method added with Handle is dispatched and
// listed in Allow; Dialogs finds the dialog of an in-dialog request.
func TestHandleExtraMethod(t *testing.T) {
	answered := make(chan *Session, 1)
	found := make(chan bool, 1)
	var b *agent
	b = newAgent(t, "bob", func(u *UA) {
		u.OnInvite = answering(audio(40002), answered, nil)
		u.Handle(sip.NOTIFY, stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
			_, ok := u.Dialogs().ForRequest(req)
			found <- ok
			_ = w.Respond(sip.NewResponse(req, sip.StatusOK))
		}))
	})
	if !strings.Contains(b.Caps().Allow(), "NOTIFY") {
		t.Errorf("Allow %q", b.Caps().Allow())
	}
	a := newAgent(t, "alice", nil)
	s, bs := call(t, a, b, answered, CallOptions{Media: audio(40000)})
	d := s.Dialog()
	n, _ := d.NewRequest(sip.NOTIFY)
	res, err := s.do(t.Context(), d, n)
	if err != nil || res.StatusCode != sip.StatusOK || !<-found {
		t.Fatalf("NOTIFY: %v %v", res, err)
	}
	_ = s.Bye(t.Context(), nil)
	<-bs.Done()
}
