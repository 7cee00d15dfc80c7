package ua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// call sets up a confirmed call from a to b and returns both sessions.
func call(t *testing.T, a, b *agent, answered chan *Session, o CallOptions) (*Session, *Session) {
	t.Helper()
	o.Dest = b.dest()
	s := a.NewCall(b.uri("bob"), o)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Invite(ctx); err != nil {
		t.Fatalf("Invite: %v\n%s", err, a.wire)
	}
	bs := <-answered
	eventually(t, "the ACK", func() bool { return b.wire.count("< ACK") >= 1 })
	return s, bs
}

func answering(media sdp.Capabilities, out chan *Session, prepare func(*Session)) func(context.Context, *Session) {
	return func(ctx context.Context, s *Session) {
		s.Media = media
		if prepare != nil {
			prepare(s)
		}
		if err := s.Accept(); err != nil {
			panic(err)
		}
		out <- s
	}
}

// TestReinviteHoldResume: hold and resume by re-INVITE (§14, RFC 3264
// §8.4); both sides see each completed exchange through OnMedia, and the
// o= version rises by one per changed offer.
func TestReinviteHoldResume(t *testing.T) {
	answered := make(chan *Session, 1)
	var mu sync.Mutex
	var seen []sdp.Direction
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = answering(audio(40002), answered, func(s *Session) {
			s.OnMedia = func(_, remote *sdp.Session) {
				mu.Lock()
				seen = append(seen, remote.MediaDirection(&remote.Media[0]))
				mu.Unlock()
			}
		})
	})
	a := newAgent(t, "alice", nil)
	s, bs := call(t, a, b, answered, CallOptions{Media: audio(40000)})
	v0 := s.LocalSDP().Origin.SessionVersion
	ctx := t.Context()
	if err := s.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	if d := s.LocalSDP().MediaDirection(&s.LocalSDP().Media[0]); d != sdp.SendOnly {
		t.Errorf("local direction on hold %v", d)
	}
	if d := s.RemoteSDP().MediaDirection(&s.RemoteSDP().Media[0]); d != sdp.RecvOnly {
		t.Errorf("answer direction on hold %v", d)
	}
	if v := s.LocalSDP().Origin.SessionVersion; v != v0+1 {
		t.Errorf("o= version %d after hold, want %d", v, v0+1)
	}
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	// A refresh with the description unchanged (same version, §8).
	if err := s.Reinvite(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if v := s.LocalSDP().Origin.SessionVersion; v != v0+2 {
		t.Errorf("o= version %d after resume and refresh, want %d", v, v0+2)
	}
	// The callee can re-INVITE too.
	if err := bs.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := fmt.Sprint(seen)
	mu.Unlock()
	if want := fmt.Sprint([]sdp.Direction{sdp.SendRecv, sdp.SendOnly, sdp.SendRecv, sdp.SendRecv, sdp.RecvOnly}); got != want {
		t.Errorf("callee saw remote directions %s, want %s", got, want)
	}
	eventually(t, "4 ACKs at the callee", func() bool { return b.wire.count("< ACK") == 4 })
	_ = s.Bye(ctx, nil)
	<-bs.Done()
}

// rawCall has the UA a call the raw peer, which answers 200 with an SDP
// answer; it returns the session and the INVITE.
func rawCall(t *testing.T, a *agent, r *raw) (*Session, *sip.Request) {
	t.Helper()
	s := a.NewCall(sip.URI{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.addr.Port()},
		CallOptions{Media: audio(40000), Dest: &transport.Dest{Network: transport.UDP, Addr: r.addr}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	inv, from := r.expect(sip.INVITE)
	ok := r.answer(inv, sip.StatusOK, "rawtag")
	offer, err := sdp.Parse(inv.Body)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sdp.Answer(offer, audio(40009))
	if err != nil {
		t.Fatal(err)
	}
	ok.SetBody("application/sdp", ans.AppendTo(nil))
	r.send(ok, from)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r.expect(sip.ACK)
	return s, inv
}

// ackFor builds the ACK of a non-2xx final response (§17.1.1.3): same
// branch as the INVITE.
func ackFor(inv *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, inv.URI)
	ack.PrependVia(*inv.TopVia())
	ack.SetFrom(*inv.From())
	ack.SetTo(*res.To())
	ack.SetCallID(inv.CallID())
	cs, _ := inv.CSeq()
	ack.SetCSeq(sip.CSeq{Seq: cs.Seq, Method: sip.ACK})
	ack.SetMaxForwards(70)
	return ack
}

// TestReinviteGlare: §14 glare. While the UA's re-INVITE is pending, the
// peer's re-INVITE gets 491 (§14.2); the peer answers the UA's 491 too,
// and the UA — owner of the Call-ID — retries after 2.1–4 s (§14.1); a
// second Reinvite meanwhile is refused with ErrPending.
func TestReinviteGlare(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s, inv := rawCall(t, a, r)
	uaAddr := a.addr

	errc := make(chan error, 1)
	go func() { errc <- s.Hold(t.Context()) }()
	re1, from := r.expect(sip.INVITE)
	if re1.To().Tag() != "rawtag" || !strings.Contains(string(re1.Body), "a=sendonly") {
		t.Fatalf("re-INVITE:\n%s", re1)
	}
	if err := s.Reinvite(t.Context(), nil); !errors.Is(err, ErrPending) {
		t.Errorf("second Reinvite = %v, want ErrPending", err)
	}
	// The peer's own re-INVITE crosses ours: 491.
	theirs := r.request(sip.INVITE, sip.URI{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: uaAddr.Port()},
		inv.CallID(), "rawtag", inv.From().Tag(), 1)
	r.send(theirs, uaAddr)
	res491 := r.expectResponse(sip.StatusRequestPending)
	r.send(ackFor(theirs, res491), uaAddr)
	// And ours gets 491 from the peer.
	r.send(r.answer(re1, sip.StatusRequestPending, "rawtag"), from)
	start := time.Now()
	r.expect(sip.ACK) // the transaction's ACK of the 491
	re2, from := r.expect(sip.INVITE)
	waited := time.Since(start)
	if waited < 2100*time.Millisecond || waited > 4300*time.Millisecond {
		t.Errorf("retried after %v, want 2.1–4 s (§14.1, Call-ID owner)", waited)
	}
	cs1, _ := re1.CSeq()
	cs2, _ := re2.CSeq()
	if cs2.Seq != cs1.Seq+1 {
		t.Errorf("retry CSeq %d after %d", cs2.Seq, cs1.Seq)
	}
	offer, _ := sdp.Parse(re2.Body)
	ans, err := sdp.Answer(offer, audio(40009))
	if err != nil {
		t.Fatal(err)
	}
	ok := r.answer(re2, sip.StatusOK, "rawtag")
	ok.SetBody("application/sdp", ans.AppendTo(nil))
	r.send(ok, from)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r.expect(sip.ACK)
	r.send(ok, from) // retransmitted 2xx of the re-INVITE: re-ACK
	ack, _ := r.expect(sip.ACK)
	if cs, _ := ack.CSeq(); cs.Seq != cs2.Seq {
		t.Errorf("re-ACK CSeq %d", cs.Seq)
	}
	if d := s.RemoteSDP().MediaDirection(&s.RemoteSDP().Media[0]); d != sdp.RecvOnly {
		t.Errorf("remote direction %v after hold", d)
	}
}

// TestReinviteTargetRefresh: a re-INVITE with a new Contact moves the
// remote target (§12.2.2): the BYE goes to the new address.
func TestReinviteTargetRefresh(t *testing.T) {
	r := newRaw(t)
	r2 := newRaw(t)
	a := newAgent(t, "alice", nil)
	s, inv := rawCall(t, a, r)
	re := r.request(sip.INVITE, sip.URI{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: a.addr.Port()},
		inv.CallID(), "rawtag", inv.From().Tag(), 1)
	re.SetContacts(sip.Contact{NameAddr: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r2.addr.Port()}}})
	r.send(re, a.addr)
	ok := r.expectResponse(sip.StatusOK)
	if len(ok.Body) == 0 {
		t.Error("the 2xx to a re-INVITE without offer carries no offer (§14.2)")
	}
	ack := r.request(sip.ACK, re.URI, inv.CallID(), "rawtag", inv.From().Tag(), 1)
	ack.SetBody("application/sdp", func() []byte {
		o, _ := sdp.Parse(ok.Body)
		a, _ := sdp.Answer(o, audio(40009))
		return a.AppendTo(nil)
	}())
	r.send(ack, a.addr)
	go func() { _ = s.Bye(context.Background(), nil) }()
	bye, from := r2.expect(sip.BYE)
	r2.send(sip.NewResponse(bye, sip.StatusOK), from)
	<-s.Done()
}

// TestReinviteDuringInitial: a re-INVITE while the initial INVITE is
// unanswered gets 500 with Retry-After 0–10 (§14.2).
func TestReinviteDuringInitial(t *testing.T) {
	release := make(chan struct{})
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			_ = s.Progress(ctx, sip.StatusRinging, false)
			<-release
			_ = s.Reject(sip.StatusBusyHere)
		}
	})
	defer close(release)
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "early@127.0.0.1", "rawtag", "", 1)
	r.send(inv, b.addr)
	ringing := r.expectResponse(sip.StatusRinging)
	re := r.request(sip.INVITE, b.uri("bob"), "early@127.0.0.1", "rawtag", ringing.To().Tag(), 2)
	r.send(re, b.addr)
	res := r.expectResponse(sip.StatusServerInternalError)
	ra := res.Get("Retry-After")
	if n, ok := parseUint32(ra); ra != "0" && (!ok || n > 10) {
		t.Errorf("Retry-After %q", ra)
	}
	r.send(ackFor(re, res), b.addr)
}
