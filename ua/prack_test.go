package ua

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// TestPrackEarlyMedia: both UAs support 100rel. The callee's 183 with
// the SDP answer is reliable (Require: 100rel, RSeq), PRACKed by the
// caller, which establishes the session before the 2xx (RFC 3262 §5); a
// second reliable provisional carries RSeq+1.
func TestPrackEarlyMedia(t *testing.T) {
	answered := make(chan *Session, 1)
	progressed := make(chan error, 2)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			progressed <- s.Progress(ctx, sip.StatusSessionProgress, true)
			if s.LocalSDP() == nil || s.RemoteSDP() == nil {
				t.Error("callee: no session after the PRACKed answer")
			}
			progressed <- s.Progress(ctx, sip.StatusRinging, false)
			_ = s.Accept()
			answered <- s
		}
	})
	a := newAgent(t, "alice", nil)
	var mu sync.Mutex
	var rseqs []int
	earlyMedia := false
	s := a.NewCall(b.uri("bob"), CallOptions{Media: audio(40000), Dest: b.dest(),
		OnProvisional: func(s *Session, res *sip.Response) {
			if res.StatusCode == 100 {
				return
			}
			n, _ := strconv.Atoi(res.Get("RSeq"))
			mu.Lock()
			rseqs = append(rseqs, n)
			if res.StatusCode == sip.StatusSessionProgress && s.LocalSDP() != nil && s.RemoteSDP() != nil {
				earlyMedia = true
			}
			mu.Unlock()
		}})
	if err := s.Invite(t.Context()); err != nil {
		t.Fatalf("%v\n%s", err, a.wire)
	}
	bs := <-answered
	for range 2 {
		if err := <-progressed; err != nil {
			t.Errorf("Progress: %v", err)
		}
	}
	mu.Lock()
	if len(rseqs) != 2 || rseqs[0] < 1 || rseqs[1] != rseqs[0]+1 || !earlyMedia {
		t.Errorf("RSeq %v, early media %v", rseqs, earlyMedia)
	}
	mu.Unlock()
	if got, want := a.wire.dir(">"), "> INVITE\n> PRACK\n> PRACK\n> ACK"; got != want {
		t.Errorf("caller sent:\n%s\nwant\n%s", got, want)
	}
	if got, want := b.wire.dir(">"), "> 183 INVITE\n> 200 PRACK\n> 180 INVITE\n> 200 PRACK\n> 200 INVITE"; got != want {
		t.Errorf("callee sent:\n%s\nwant\n%s", got, want)
	}
	_ = s.Bye(t.Context(), nil)
	<-bs.Done()
}

// TestPrackLateOffer: an INVITE without offer; the first reliable
// provisional carries the offer and the PRACK the answer (RFC 3262 §5).
func TestPrackLateOffer(t *testing.T) {
	answered := make(chan *Session, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			if err := s.Progress(ctx, sip.StatusSessionProgress, true); err != nil {
				t.Error(err)
			}
			_ = s.Accept()
			answered <- s
		}
	})
	a := newAgent(t, "alice", nil)
	s := a.NewCall(b.uri("bob"), CallOptions{Media: audio(40000), LateOffer: true, Dest: b.dest()})
	if err := s.Invite(t.Context()); err != nil {
		t.Fatal(err)
	}
	bs := <-answered
	if bs.RemoteSDP() == nil || bs.RemoteSDP().Media[0].Port != 40000 || s.RemoteSDP().Media[0].Port != 40002 {
		t.Fatalf("no session: callee remote %v", bs.RemoteSDP())
	}
	if p := a.wire.find("PRACK "); !strings.Contains(p, "m=audio 40000") {
		t.Errorf("PRACK without the answer:\n%s", p)
	}
	_ = s.Bye(t.Context(), nil)
	<-bs.Done()
}

// TestPrackUAC: the UAC PRACKs each new reliable provisional with RAck,
// and neither PRACKs nor reports a retransmission or an out-of-order RSeq
// (RFC 3262 §4).
func TestPrackUAC(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	var mu sync.Mutex
	var got []string
	s := a.NewCall(sip.URI{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.addr.Port()},
		CallOptions{Dest: &transport.Dest{Network: transport.UDP, Addr: r.addr}, OnProvisional: func(_ *Session, res *sip.Response) {
			mu.Lock()
			got = append(got, res.Get("RSeq"))
			mu.Unlock()
		}})
	errc := make(chan error, 1)
	go func() { errc <- s.Invite(t.Context()) }()
	inv, from := r.expect(sip.INVITE)
	if !inv.HasOptionTag("Supported", "100rel") {
		t.Errorf("INVITE without Supported: 100rel:\n%s", inv)
	}
	rel := func(rseq int) *sip.Response {
		res := r.answer(inv, sip.StatusRinging, "rawtag")
		_ = res.Add("Require", "100rel")
		_ = res.Add("RSeq", strconv.Itoa(rseq))
		return res
	}
	prack := func(want string) {
		t.Helper()
		p, pfrom := r.expect(sip.PRACK)
		if p.Get("RAck") != want {
			t.Errorf("RAck %q, want %q", p.Get("RAck"), want)
		}
		r.send(sip.NewResponse(p, sip.StatusOK), pfrom)
	}
	r.send(rel(5), from)
	prack("5 1 INVITE")
	r.send(rel(5), from) // retransmission
	r.send(rel(7), from) // out of order
	r.send(rel(6), from)
	prack("6 1 INVITE")
	r.send(r.answer(inv, sip.StatusOK, "rawtag"), from)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r.expect(sip.ACK)
	mu.Lock()
	if len(got) != 2 || got[0] != "5" || got[1] != "6" {
		t.Errorf("provisionals passed up: RSeq %v, want [5 6]", got)
	}
	mu.Unlock()
	go func() {
		bye, from := r.expect(sip.BYE)
		r.send(sip.NewResponse(bye, sip.StatusOK), from)
	}()
	_ = s.Bye(t.Context(), nil)
}

// TestPrackUASRetransmission: without a PRACK the reliable provisional is
// retransmitted with the same RSeq, T1 doubling, and after 64·T1 the
// INVITE is rejected 500 (RFC 3262 §3). A PRACK that matches nothing gets
// 481.
func TestPrackUASRetransmission(t *testing.T) {
	progress := make(chan error, 1)
	b := newAgent(t, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			progress <- s.Progress(ctx, sip.StatusRinging, false)
		}
	})
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "noprack@127.0.0.1", "rawtag", "", 1)
	_ = inv.Add("Supported", "100rel")
	start := time.Now()
	r.send(inv, b.addr)
	first := r.expectResponse(sip.StatusRinging)
	if !first.HasOptionTag("Require", "100rel") || first.Get("RSeq") == "" {
		t.Fatalf("not reliable:\n%s", first)
	}
	bad := r.request(sip.PRACK, b.uri("bob"), "noprack@127.0.0.1", "rawtag", first.To().Tag(), 2)
	_ = bad.Add("RAck", "999999 1 INVITE")
	r.send(bad, b.addr)
	r.expectResponse(sip.StatusCallTransactionDoesNotExist)
	var at []time.Duration
	for {
		m, _ := r.recv(5 * time.Second)
		res, ok := m.(*sip.Response)
		if !ok {
			t.Fatalf("no final response; retransmissions at %v", at)
		}
		if res.StatusCode == sip.StatusRinging {
			if res.Get("RSeq") != first.Get("RSeq") {
				t.Errorf("retransmission with RSeq %s, first %s", res.Get("RSeq"), first.Get("RSeq"))
			}
			at = append(at, time.Since(start))
			continue
		}
		if res.StatusCode != sip.StatusServerInternalError {
			t.Fatalf("final %d, want 500", res.StatusCode)
		}
		if d := time.Since(start); d < 64*testTimers.T1 {
			t.Errorf("500 after %v, before 64*T1", d)
		}
		r.send(ackFor(inv, res), b.addr)
		break
	}
	// T1 doubling, no T2 cap: 25, 50, 100, 200, 400, 800 ms intervals ->
	// 5 or 6 retransmissions before 1.6 s.
	if len(at) < 5 || len(at) > 6 {
		t.Errorf("%d retransmissions at %v", len(at), at)
	}
	for i := 2; i < len(at); i++ {
		if gap, prev := at[i]-at[i-1], at[i-1]-at[i-2]; gap < prev*3/2 {
			t.Errorf("intervals not doubling: %v", at)
			break
		}
	}
	if err := <-progress; !errors.Is(err, dialog.ErrNoPrack) {
		t.Errorf("Progress = %v", err)
	}
}

// Test420: a UA without 100rel rejects an INVITE requiring it with 420 and
// Unsupported: 100rel (RFC 3262 §3, RFC 3261 §8.2.2.3); one with it lists
// 100rel in Supported.
func Test420(t *testing.T) {
	b := newAgent(t, "bob", func(u *UA) { u.Disable100rel = true })
	r := newRaw(t)
	inv := r.request(sip.INVITE, b.uri("bob"), "req100rel@127.0.0.1", "rawtag", "", 1)
	_ = inv.Add("Require", "100rel")
	r.send(inv, b.addr)
	res := r.expectResponse(sip.StatusBadExtension)
	if res.Get("Unsupported") != "100rel" {
		t.Errorf("Unsupported %q", res.Get("Unsupported"))
	}
	r.send(ackFor(inv, res), b.addr)
	if b.Caps().Supports("100rel") {
		t.Error("100rel registered although disabled")
	}
	c := newAgent(t, "carol", nil)
	if !c.Caps().Supports("100rel") {
		t.Error("100rel not registered")
	}
}
