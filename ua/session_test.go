package ua

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// TestSessionCall: a call between two UAs over loopback UDP with 180 and
// 183 with early SDP (unreliable: the caller has 100rel off), 200 with the
// answer, ACK, and BYE with a Reason (RFC 3326).
func TestSessionCall(t *testing.T) {
	answered := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			if err := s.Progress(ctx, sip.StatusRinging, false); err != nil {
				t.Error(err)
			}
			if err := s.Progress(ctx, sip.StatusSessionProgress, true); err != nil {
				t.Error(err)
			}
			if err := s.Accept(); err != nil {
				t.Error(err)
			}
			answered <- s
		}
	})
	a := newAgent(t, "alice", func(u *UA) { u.Disable100rel = true })
	var mu sync.Mutex
	var provisional []sip.StatusCode
	earlySDP := false
	s := a.NewCall(b.uri("bob"), CallOptions{Media: audio(40000), Dest: b.dest(),
		OnProvisional: func(s *Session, res *sip.Response) {
			mu.Lock()
			defer mu.Unlock()
			provisional = append(provisional, res.StatusCode)
			if res.StatusCode == sip.StatusSessionProgress && s.RemoteSDP() != nil && s.State() == SessionEarly {
				earlySDP = true
			}
		}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Invite(ctx); err != nil {
		t.Fatalf("Invite: %v\n%s", err, a.wire)
	}
	bs := <-answered
	mu.Lock()
	if len(provisional) < 2 || provisional[len(provisional)-2] != sip.StatusRinging || provisional[len(provisional)-1] != sip.StatusSessionProgress || !earlySDP {
		t.Errorf("provisionals %v, early SDP %v", provisional, earlySDP)
	}
	mu.Unlock()
	if s.State() != SessionConfirmed || s.LocalSDP() == nil || s.RemoteSDP() == nil || s.RemoteSDP().Media[0].Port != 40002 {
		t.Fatalf("caller: state %v, remote %v", s.State(), s.RemoteSDP())
	}
	eventually(t, "the callee's ACK", func() bool { return b.wire.count("< ACK") == 1 })
	if bs.State() != SessionConfirmed || bs.RemoteSDP().Media[0].Port != 40000 {
		t.Fatalf("callee: state %v", bs.State())
	}
	if a.Sessions() != 1 || b.Sessions() != 1 {
		t.Fatalf("sessions %d %d", a.Sessions(), b.Sessions())
	}
	if err := s.Bye(ctx, ReasonNormal); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bs.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("callee did not end")
	}
	var r *Reason
	if err := bs.Err(); !errors.Is(err, ErrRemoteHangup) || !errors.As(err, &r) || r.Cause != 16 || r.Protocol != "Q.850" {
		t.Errorf("callee Err = %v", err)
	}
	if !errors.Is(s.Err(), ErrHangup) {
		t.Errorf("caller Err = %v", s.Err())
	}
	if a.Sessions() != 0 || b.Sessions() != 0 {
		t.Errorf("sessions left: %d %d", a.Sessions(), b.Sessions())
	}
	// A message sent is tapped after the write, so the answer to it can be
	// tapped first: compare each direction on its own.
	eventually(t, "the 200 to the BYE", func() bool { return a.wire.count("< 200 BYE") == 1 })
	if got, want := a.wire.dir(">"), "> INVITE\n> ACK\n> BYE"; got != want {
		t.Errorf("caller sent:\n%s\nwant\n%s", got, want)
	}
	if got, want := a.wire.dir("<"), "< 180 INVITE\n< 183 INVITE\n< 200 INVITE\n< 200 BYE"; got != want {
		t.Errorf("caller received:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(a.wire.find("BYE "), "Reason: Q.850;cause=16;text=\"Normal call clearing\"") {
		t.Errorf("BYE without Reason:\n%s", a.wire.find("BYE "))
	}
}

// TestSessionCancel: §9.1 — a Cancel before any provisional waits for
// one; the CANCEL carries the Reason; the INVITE is answered 487, which
// Invite awaits and reports as ErrCanceled; the callee sees ErrCanceled
// with the CANCEL's Reason.
func TestSessionCancel(t *testing.T) {
	callee := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			callee <- s
			time.Sleep(300 * time.Millisecond) // the caller's Cancel comes first
			_ = s.Progress(ctx, sip.StatusRinging, false)
			<-ctx.Done()
		}
	})
	a := newAgent(t, "alice", nil)
	s := a.NewCall(b.uri("bob"), CallOptions{Media: audio(40000), Dest: b.dest()})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	bs := <-callee
	if err := s.Cancel(ReasonCompletedElsewhere); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatalf("Invite did not return\n%s", a.wire)
	}
	var se *StatusError
	if !errors.Is(err, ErrCanceled) || !errors.As(err, &se) || se.Response.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("Invite = %v, want ErrCanceled with 487", err)
	}
	if i, j := a.wire.index("< 100 INVITE"), a.wire.index("> CANCEL"); i < 0 || j < i {
		t.Errorf("CANCEL sent before the provisional (§9.1):\n%s", a.wire)
	}
	if c := a.wire.find("CANCEL "); !strings.Contains(c, `Reason: SIP;cause=200;text="Call completed elsewhere"`) {
		t.Errorf("CANCEL without Reason:\n%s", c)
	}
	<-bs.Done()
	if !errors.Is(bs.Err(), ErrCanceled) || !errors.Is(s.Err(), ErrCanceled) {
		t.Errorf("Err: callee %v, caller %v", bs.Err(), s.Err())
	}
	// The callee learns why (RFC 3326): not a missed call.
	var why *Reason
	if !errors.As(bs.Err(), &why) || why.Protocol != "SIP" || why.Cause != 200 || why.Text != "Call completed elsewhere" {
		t.Errorf("callee Err %v, want the CANCEL's Reason", bs.Err())
	}
	if a.Sessions() != 0 || b.Sessions() != 0 {
		t.Errorf("sessions left: %d %d", a.Sessions(), b.Sessions())
	}
	if err := s.Cancel(nil); !errors.Is(err, ErrWrongState) {
		t.Errorf("Cancel after the end = %v", err)
	}
}

// TestSessionForked2xx: a forking peer answers 200 on two legs and
// retransmits the first 200. The UAC ACKs every 2xx (the retransmission
// again, §13.2.2.4), keeps the first leg and ends the other with ACK then
// BYE.
func TestSessionForked2xx(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s := a.NewCall(sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: r.addr.Port()},
		CallOptions{Dest: &transport.Dest{Network: transport.UDP, Addr: r.addr}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	inv, from := r.expect(sip.INVITE)
	r.send(r.answer(inv, sip.StatusRinging, "legA"), from)
	r.send(r.answer(inv, sip.StatusRinging, "legB"), from)
	okA := r.answer(inv, sip.StatusOK, "legA")
	r.send(okA, from)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ack, _ := r.expect(sip.ACK)
	if ack.To().Tag() != "legA" {
		t.Fatalf("first ACK for %q", ack.To().Tag())
	}
	r.send(r.answer(inv, sip.StatusOK, "legB"), from)
	ack, _ = r.expect(sip.ACK)
	if ack.To().Tag() != "legB" {
		t.Fatalf("second ACK for %q", ack.To().Tag())
	}
	bye, byeFrom := r.expect(sip.BYE)
	if bye.To().Tag() != "legB" || !strings.Contains(bye.String(), "Reason: SIP;cause=200") {
		t.Fatalf("BYE for %q:\n%s", bye.To().Tag(), bye)
	}
	r.send(sip.NewResponse(bye, sip.StatusOK), byeFrom)
	r.send(okA, from) // a retransmission of the kept leg's 200
	ack, _ = r.expect(sip.ACK)
	if ack.To().Tag() != "legA" {
		t.Fatalf("re-ACK for %q", ack.To().Tag())
	}
	if s.State() != SessionConfirmed || s.Dialog().ID().RemoteTag != "legA" {
		t.Fatalf("kept %v %v", s.State(), s.Dialog().ID())
	}
	eventually(t, "the extra leg to be forgotten", func() bool { return a.Sessions() == 1 })
	// The kept leg ends with BYE.
	go func() {
		bye, from := r.expect(sip.BYE)
		r.send(sip.NewResponse(bye, sip.StatusOK), from)
	}()
	if err := s.Bye(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestSessionNoAck: the UAS retransmits its 200 (T1 doubling to T2) while
// no ACK comes, and after 64·T1 ends the session with BYE (§13.3.1.4).
func TestSessionNoAck(t *testing.T) {
	got := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Accept()
			got <- s
		}
	})
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "noack@127.0.0.1", "rawtag", "", 1)
	start := time.Now()
	r.send(inv, b.addr)
	r.expectResponse(sip.StatusOK)
	bs := <-got
	bye, from := r.expect(sip.BYE)
	took := time.Since(start)
	r.send(sip.NewResponse(bye, sip.StatusOK), from)
	if took < 64*testTimers.T1 {
		t.Errorf("BYE after %v, before 64*T1", took)
	}
	if n := b.wire.count("> 200 INVITE"); n < 5 {
		t.Errorf("%d 200s sent, want the retransmissions:\n%s", n, b.wire)
	}
	<-bs.Done()
	if !errors.Is(bs.Err(), dialog.ErrNoAck) {
		t.Errorf("Err = %v", bs.Err())
	}
}

// TestSessionAckStopsRetransmissions: a lost ACK (the first one dropped
// by the raw caller) means more 200s; the ACK that arrives stops them.
func TestSessionAckStopsRetransmissions(t *testing.T) {
	got := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Accept()
			got <- s
		}
	})
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "lostack@127.0.0.1", "rawtag", "", 1)
	r.send(inv, b.addr)
	ok := r.expectResponse(sip.StatusOK)
	r.expectResponse(sip.StatusOK) // a retransmission: our ACK was "lost"
	ack := r.request(sip.ACK, b.uri("bob"), "lostack@127.0.0.1", "rawtag", ok.To().Tag(), 1)
	r.send(ack, b.addr)
	bs := <-got
	time.Sleep(50 * time.Millisecond)
	n := b.wire.count("> 200 INVITE")
	time.Sleep(500 * time.Millisecond)
	if m := b.wire.count("> 200 INVITE"); m != n {
		t.Errorf("200 retransmitted after the ACK: %d then %d", n, m)
	}
	if bs.State() != SessionConfirmed {
		t.Errorf("state %v", bs.State())
	}
	// A BYE from the raw caller ends it.
	bye := r.request(sip.BYE, b.uri("bob"), "lostack@127.0.0.1", "rawtag", ok.To().Tag(), 2)
	r.send(bye, b.addr)
	r.expectResponse(sip.StatusOK)
	<-bs.Done()
}

// Test481: requests for a dialog that does not exist get 481 (§12.2.2).
func Test481(t *testing.T) {
	b := newAgent(t, "bob", nil)
	r := newRaw(t)
	for _, m := range []sip.Method{sip.BYE, sip.INVITE, sip.PRACK} {
		req := r.request(m, b.uri("bob"), "nodialog@127.0.0.1", "rawtag", "nosuchtag", 5)
		r.send(req, b.addr)
		r.expectResponse(sip.StatusCallTransactionDoesNotExist)
	}
}

// TestSessionEarlyBye: the caller BYEs the early dialog (§15); the callee
// answers the INVITE 487 (§15.1.2) and both sessions end.
func TestSessionEarlyBye(t *testing.T) {
	callee := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Progress(ctx, sip.StatusRinging, false)
			callee <- s
		}
	})
	a := newAgent(t, "alice", nil)
	early := make(chan struct{}, 1)
	s := a.NewCall(b.uri("bob"), CallOptions{Dest: b.dest(), OnProvisional: func(_ *Session, res *sip.Response) {
		if res.StatusCode == sip.StatusRinging {
			early <- struct{}{}
		}
	}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	<-early
	bs := <-callee
	if err := bs.Bye(t.Context(), nil); !errors.Is(err, ErrWrongState) {
		t.Errorf("callee BYE in an early dialog = %v (§15: MUST NOT)", err)
	}
	if err := s.Bye(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var se *StatusError
	if !errors.As(err, &se) || se.Response.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("Invite = %v, want 487", err)
	}
	<-bs.Done()
	if !errors.Is(bs.Err(), ErrRemoteHangup) {
		t.Errorf("callee Err %v", bs.Err())
	}
}

// TestSessionCancelWaitsForProvisional: against a peer that sends no 100,
// the CANCEL waits for the 180 (§9.1 "the client MUST wait for the arrival
// of a provisional response"), and Invite waits for the 487.
func TestSessionCancelWaitsForProvisional(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s := a.NewCall(sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: r.addr.Port()},
		CallOptions{Dest: &transport.Dest{Network: transport.UDP, Addr: r.addr}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	inv, from := r.expect(sip.INVITE)
	if err := s.Cancel(&Reason{Protocol: "SIP", Cause: 480, Text: "gone"}); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		if m, _ := r.recv(time.Until(end)); m != nil {
			if req, ok := m.(*sip.Request); ok && req.Method == sip.CANCEL {
				t.Fatal("CANCEL sent before any provisional response")
			}
		}
	}
	r.send(r.answer(inv, sip.StatusRinging, "t1"), from)
	c, cfrom := r.expect(sip.CANCEL)
	if c.Get("Reason") != `SIP;cause=480;text="gone"` {
		t.Errorf("CANCEL Reason %q", c.Get("Reason"))
	}
	if v := c.TopVia(); v == nil || string(v.Params) != string(inv.TopVia().Params) {
		t.Errorf("CANCEL Via %v, INVITE Via %v", c.TopVia(), inv.TopVia())
	}
	r.send(sip.NewResponse(c, sip.StatusOK), cfrom)
	select {
	case err := <-errc:
		t.Fatalf("Invite returned before the final response: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.send(r.answer(inv, sip.StatusRequestTerminated, "t1"), from)
	if err := <-errc; !errors.Is(err, ErrCanceled) {
		t.Fatalf("Invite = %v", err)
	}
	r.expect(sip.ACK) // the transaction's ACK for the 487 (§17.1.1.3)
}

// TestSessionByeBeforeAck: the ACK is lost and the caller's BYE arrives
// first: the callee answers it, ends the session and stops retransmitting
// its 200.
func TestSessionByeBeforeAck(t *testing.T) {
	got := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Accept()
			got <- s
		}
	})
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "byefirst@127.0.0.1", "rawtag", "", 1)
	r.send(inv, b.addr)
	ok := r.expectResponse(sip.StatusOK)
	bs := <-got
	bye := r.request(sip.BYE, b.uri("bob"), "byefirst@127.0.0.1", "rawtag", ok.To().Tag(), 2)
	r.send(bye, b.addr)
	r.expectResponse(sip.StatusOK)
	<-bs.Done()
	time.Sleep(50 * time.Millisecond)
	n := b.wire.count("> 200 INVITE")
	time.Sleep(400 * time.Millisecond) // several T1..T2 intervals
	if m := b.wire.count("> 200 INVITE"); m != n {
		t.Errorf("200 retransmitted after the session ended: %d then %d\n%s", n, m, b.wire)
	}
	if !errors.Is(bs.Err(), ErrRemoteHangup) {
		t.Errorf("Err %v", bs.Err())
	}
}

// TestSessionUnusableAnswer: a 2xx without the SDP answer to our offer is
// ACKed (§13.2.2.4) and the session ended with BYE carrying a Reason.
func TestSessionUnusableAnswer(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s := a.NewCall(sip.URI{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.addr.Port()},
		CallOptions{Media: audio(40000), Dest: &transport.Dest{Network: transport.UDP, Addr: r.addr}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	inv, from := r.expect(sip.INVITE)
	r.send(r.answer(inv, sip.StatusOK, "rawtag"), from) // no body
	r.expect(sip.ACK)
	bye, bfrom := r.expect(sip.BYE)
	if !strings.Contains(bye.Get("Reason"), "cause=488") {
		t.Errorf("BYE Reason %q", bye.Get("Reason"))
	}
	r.send(sip.NewResponse(bye, sip.StatusOK), bfrom)
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "unusable SDP answer") {
		t.Errorf("Invite = %v", err)
	}
	<-s.Done()
}

// TestSessionOverTCP: the same call over TCP, where nothing is
// retransmitted by the UA core (§13.3.1.4 and RFC 3262 §3 only wait for
// the ACK and the PRACK on a reliable transport), even when they are slow.
func TestSessionOverTCP(t *testing.T) {
	answered := make(chan *Session, 1)
	b := newAgentTCP(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			if err := s.Progress(ctx, sip.StatusSessionProgress, true); err != nil {
				t.Error(err)
			}
			_ = s.Accept()
			answered <- s
		}
	})
	a := newAgentTCP(t, "alice", nil)
	s := a.NewCall(sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: b.addr.Port(), Params: sip.Params(";transport=tcp")},
		CallOptions{Media: audio(40000), Dest: &transport.Dest{Network: transport.TCP, Addr: b.addr}})
	if err := s.Invite(t.Context()); err != nil {
		t.Fatalf("%v\n%s", err, a.wire)
	}
	bs := <-answered
	if err := s.Hold(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two ACKs", func() bool { return b.wire.count("< ACK") == 2 })
	if err := bs.Bye(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	for _, line := range []string{"> 183 INVITE", "> 200 INVITE"} {
		if n := b.wire.count(line); line == "> 183 INVITE" && n != 1 || line == "> 200 INVITE" && n != 2 {
			t.Errorf("%d × %q over TCP:\n%s", n, line, b.wire)
		}
	}
	if !errors.Is(s.Err(), ErrRemoteHangup) {
		t.Errorf("caller Err %v", s.Err())
	}
}

// TestOnInvitePanic: a panicking OnInvite gets the caller a 500 (the
// stack recovers) and leaves no session behind.
func TestOnInvitePanic(t *testing.T) {
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Progress(ctx, sip.StatusRinging, false)
			panic(stack.ErrAbortHandler)
		}
	})
	a := newAgent(t, "alice", func(u *UA) { u.Disable100rel = true })
	s := a.NewCall(b.uri("bob"), CallOptions{Dest: b.dest()})
	var se *StatusError
	if err := s.Invite(t.Context()); !errors.As(err, &se) || se.Response.StatusCode != sip.StatusServerInternalError {
		t.Fatalf("Invite = %v", err)
	}
	eventually(t, "no sessions", func() bool { return a.Sessions() == 0 && b.Sessions() == 0 })
}
