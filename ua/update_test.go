package ua

import (
	"context"
	"strings"
	"testing"

	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
)

// TestUpdateEarly: after the reliable 183 with the answer, the caller
// puts the early session on hold with UPDATE (RFC 3311) before the call
// is answered; then both UPDATE the confirmed session.
func TestUpdateEarly(t *testing.T) {
	early := make(chan *Session, 1)
	proceed := make(chan struct{})
	answered := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			if err := s.Progress(ctx, sip.StatusSessionProgress, true); err != nil {
				t.Error(err)
			}
			early <- s
			<-proceed
			_ = s.Accept()
			answered <- s
		}
	})
	a := newAgent(t, "alice", nil)
	s := a.NewCall(b.uri("bob"), CallOptions{Media: audio(40000), Dest: b.dest()})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	bs := <-early
	eventually(t, "the PRACK's answer at the caller", func() bool { return s.LocalSDP() != nil })
	if err := s.Update(t.Context(), (*sdp.Session).Hold); err != nil {
		t.Fatalf("early UPDATE: %v\n%s", err, a.wire)
	}
	if bs.State() != SessionEarly {
		t.Errorf("callee state %v during the early UPDATE", bs.State())
	}
	if d := bs.RemoteSDP().MediaDirection(&bs.RemoteSDP().Media[0]); d != sdp.SendOnly {
		t.Errorf("callee sees %v after the early hold", d)
	}
	close(proceed)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	<-answered
	if err := s.Update(t.Context(), (*sdp.Session).Resume); err != nil {
		t.Fatal(err)
	}
	if err := bs.Update(t.Context(), (*sdp.Session).Hold); err != nil {
		t.Fatal(err)
	}
	if d := s.RemoteSDP().MediaDirection(&s.RemoteSDP().Media[0]); d != sdp.SendOnly {
		t.Errorf("caller sees %v after the callee's hold", d)
	}
	if err := s.Update(t.Context(), nil); err != nil { // target refresh, no SDP
		t.Fatal(err)
	}
	if n := b.wire.count("< UPDATE"); n != 3 {
		t.Errorf("%d UPDATEs at the callee, want 3", n)
	}
	_ = s.Bye(t.Context(), nil)
	<-bs.Done()
}

// TestUpdateOverlap: an UPDATE offer crossing ours gets 491, one arriving
// while the INVITE's offer is unanswered gets 500 with Retry-After (RFC
// 3311 §5.2).
func TestUpdateOverlap(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s, inv := rawCall(t, a, r)
	errc := make(chan error, 1)
	go func() { errc <- s.Update(t.Context(), (*sdp.Session).Hold) }()
	up, from := r.expect(sip.UPDATE)
	theirs := r.request(sip.UPDATE, sip.URI{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: a.addr.Port()},
		inv.CallID(), "rawtag", inv.From().Tag(), 1)
	offer, _ := sdp.Parse(up.Body)
	theirs.SetBody("application/sdp", offer.AppendTo(nil)) // any offer will do
	r.send(theirs, a.addr)
	r.expectResponse(sip.StatusRequestPending)
	ans, err := sdp.Answer(offer, audio(40009))
	if err != nil {
		t.Fatal(err)
	}
	ok := sip.NewResponse(up, sip.StatusOK)
	ok.SetBody("application/sdp", ans.AppendTo(nil))
	r.send(ok, from)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// 500 + Retry-After: the callee has not answered the INVITE's offer.
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			_ = s.Progress(ctx, sip.StatusRinging, false)
			<-ctx.Done()
		}
	})
	inv2 := r.request(sip.INVITE, b.uri("bob"), "upd500@127.0.0.1", "rawtag2", "", 1)
	inv2.SetBody("application/sdp", offer.AppendTo(nil))
	r.send(inv2, b.addr)
	ringing := r.expectResponse(sip.StatusRinging)
	up2 := r.request(sip.UPDATE, b.uri("bob"), "upd500@127.0.0.1", "rawtag2", ringing.To().Tag(), 2)
	up2.SetBody("application/sdp", offer.AppendTo(nil))
	r.send(up2, b.addr)
	res := r.expectResponse(sip.StatusServerInternalError)
	if n, ok := parseUint32(res.Get("Retry-After")); res.Get("Retry-After") != "0" && (!ok || n > 10) {
		t.Errorf("Retry-After %q", res.Get("Retry-After"))
	}
	cancel := sip.NewRequest(sip.CANCEL, inv2.URI)
	cancel.PrependVia(*inv2.TopVia())
	cancel.SetFrom(*inv2.From())
	cancel.SetTo(*inv2.To())
	cancel.SetCallID(inv2.CallID())
	cancel.SetCSeq(sip.CSeq{Seq: 1, Method: sip.CANCEL})
	cancel.SetMaxForwards(70)
	r.send(cancel, b.addr)
	res487 := r.expectResponse(sip.StatusRequestTerminated)
	r.send(ackFor(inv2, res487), b.addr)
	if !strings.Contains(a.Caps().Allow(), "UPDATE") {
		t.Errorf("Allow %q without UPDATE", a.Caps().Allow())
	}
}
