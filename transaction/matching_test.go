package transaction

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// §17.2.3: branch, sent-by (host case-insensitive) and method make the key.
func TestServerMatching(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: testBranch}))
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: testBranch, sentBy: "PC33.Atlanta.Example.COM"}))
		if n := tc.numRequests(); n != 1 {
			t.Fatalf("sent-by host case changed the match: %d transactions", n)
		}
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: testBranch, sentBy: "pc33.atlanta.example.com:5062"}))
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: testBranch, sentBy: "mallory.example.com"}))
		tc.recv(newReq(t, reqSpec{method: sip.INFO, branch: testBranch}))
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: "z9hG4bKother"}))
		if n := tc.numRequests(); n != 5 {
			t.Fatalf("%d transactions, want 5", n)
		}
		k := tc.serverTx(1).Key()
		if k != (Key{Method: sip.OPTIONS, Branch: testBranch, Host: "pc33.atlanta.example.com", Port: 5062}) {
			t.Fatalf("Key = %+v", k)
		}
		if tc.l.Len() != 5 {
			t.Fatalf("Len = %d", tc.l.Len())
		}
	})
}

// An ACK that matches no INVITE server transaction — the ACK for a 2xx,
// which has its own branch, or a stray one — goes to OnAck. One that
// matches an INVITE still in Proceeding is absorbed: Figure 7 has no such
// edge, and it acknowledges nothing the TU sent.
func TestServerAckRouting(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		stray := newReq(t, reqSpec{method: sip.ACK, branch: "z9hG4bKstray", toTag: "x"})
		tc.recv(stray)
		if tc.numAcks() != 1 || tc.numRequests() != 0 {
			t.Fatalf("stray ACK: acks %d requests %d", tc.numAcks(), tc.numRequests())
		}
		tx, req := tc.newInvite()
		tc.recv(ackFor(t, req, response(req, 486, "bob"), ""))
		if tc.numAcks() != 1 {
			t.Fatalf("ACK in Proceeding reached the TU")
		}
		tc.wantState(tx, StateProceeding)
		tc.wantNothingSent("nothing for an early ACK")
		tc.l.HandleIncoming(transport.Incoming{Message: newReq(t, reqSpec{method: sip.ACK, branch: "z9hG4bKstray", toTag: "x"})})
		if tc.numAcks() != 2 {
			t.Fatalf("OnAck not called")
		}
	})
}

// §9.2: a CANCEL matches its INVITE with the method ignored and is given
// to OnCancel with it; a CANCEL that matches nothing comes with nil.
func TestServerCancel(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		itx, _ := tc.newInvite()
		cancel := newReq(t, reqSpec{method: sip.CANCEL, branch: testBranch})
		tc.recv(cancel)
		if len(tc.cancels) != 1 || tc.cancels[0][1] != itx {
			t.Fatalf("OnCancel: %v", tc.cancels)
		}
		ctx := tc.cancels[0][0]
		if ctx == itx || ctx.Request() != cancel || ctx.Key().Method != sip.CANCEL {
			t.Fatalf("CANCEL transaction %+v", ctx.Key())
		}
		tc.recv(cancel)
		if len(tc.cancels) != 1 {
			t.Fatal("CANCEL retransmission reached the TU")
		}
		tc.recv(newReq(t, reqSpec{method: sip.CANCEL, branch: "z9hG4bKnothing"}))
		if len(tc.cancels) != 2 || tc.cancels[1][1] != nil {
			t.Fatalf("unmatched CANCEL: %v", tc.cancels[1])
		}
		if tc.numRequests() != 1 {
			t.Fatal("CANCEL given to OnRequest")
		}
	})
}

// AnswerCancel, the default OnCancel: 200 to the CANCEL and 487 to the
// INVITE with the same To tag; 481 without target; only 200 when the
// INVITE already has its final response.
func TestAnswerCancel(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		tc.respond(tx, response(req, 180, "bob"))
		tc.wantResponse("180", 180)
		cancel := newReq(t, reqSpec{method: sip.CANCEL, branch: testBranch})
		tc.recv(cancel)
		ok := tc.wantResponse("200 to CANCEL", 200)
		if cs, _ := ok.CSeq(); cs.Method != sip.CANCEL {
			t.Fatalf("200 is for %v", cs)
		}
		rt := tc.wantResponse("487 to INVITE", 487)
		if cs, _ := rt.CSeq(); cs.Method != sip.INVITE {
			t.Fatalf("487 is for %v", cs)
		}
		if ok.To().Tag() != "bob" || rt.To().Tag() != "bob" {
			t.Fatalf("To tags %q %q, want the 180's", ok.To().Tag(), rt.To().Tag())
		}
		tc.wantState(tx, StateCompleted)
		tc.recv(cancel)
		tc.wantResponse("200 re-sent for a retransmitted CANCEL", 200)
		tc.recv(ackFor(t, req, rt, ""))
		tc.wantState(tx, StateConfirmed)

		tc.recv(newReq(t, reqSpec{method: sip.CANCEL, branch: "z9hG4bKnothing"}))
		tc.wantResponse("481 to an unmatched CANCEL", 481)

		// A CANCEL after the final response: 200, no 487.
		inv2 := newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKsecond", callID: "second"})
		tc.recv(inv2)
		tx2 := tc.serverTx(1)
		tc.respond(tx2, response(inv2, 200, "carol"))
		tc.wantResponse("200 to INVITE", 200)
		tc.recv(newReq(t, reqSpec{method: sip.CANCEL, branch: "z9hG4bKsecond", callID: "second"}))
		if res := tc.wantResponse("200 to late CANCEL", 200); res.To().Tag() != "carol" {
			t.Fatalf("late CANCEL To tag %q", res.To().Tag())
		}
		tc.wantNothingSent("no 487 after a final")
	}, func(c *Config) { c.OnCancel = nil })
}

// A non-INVITE server transaction on UDP lets its request go in Completed
// (ServerTx.Request is then nil; the TU keeps its own reference) and still
// answers retransmissions and a CANCEL: 200 with the final response's To
// tag, no 487, and no reach for the request it let go.
func TestServerNonInviteReleasesRequest(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx, req := tc.newOptions()
		if tx.Request() != req {
			t.Fatal("Request before the final response is not the request")
		}
		tc.respond(tx, response(req, 200, "bob"))
		tc.wantResponse("200", 200)
		tc.wantState(tx, StateCompleted)
		if got := tx.Request(); got != nil {
			t.Fatalf("Request in Completed over UDP = %v, want nil (let go)", got)
		}
		tc.recv(req)
		tc.wantResponse("200 re-sent in Completed", 200)
		tc.recv(newReq(t, reqSpec{method: sip.CANCEL, branch: testBranch}))
		if res := tc.wantResponse("200 to CANCEL", 200); res.To().Tag() != "bob" {
			t.Fatalf("CANCEL's 200 To tag %q, want the final response's", res.To().Tag())
		}
		tc.wantNothingSent("no 487 to a completed OPTIONS")
		tc.advance(64 * t1)
		tc.wantDone(tx, nil, TimerNone)
	}, func(c *Config) { c.OnCancel = nil })
	// Over a reliable transport the transaction ends at once, request kept.
	run(t, transport.TCP, func(t *testing.T, tc *testConn) {
		tx, req := tc.newOptions()
		tc.respond(tx, response(req, 200, "bob"))
		tc.wantResponse("200", 200)
		if tx.Request() != req {
			t.Fatal("Request after the end over TCP is not the request")
		}
	})
}

// §17.2.3, RFC 2543 requests (no magic cookie): matched by Request-URI,
// tags, Call-ID, CSeq and top Via; the ACK by the To tag of the response.
// RFC 6026 §6: an RFC 2543 ACK matching a transaction in Accepted goes to
// the TU.
func TestServerRFC2543Matching(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		inv := newReq(t, reqSpec{method: sip.INVITE})
		tc.recv(inv)
		tc.recv(newReq(t, reqSpec{method: sip.INVITE}))
		if tc.numRequests() != 1 {
			t.Fatalf("RFC 2543 retransmission not matched")
		}
		tx := tc.serverTx(0)
		if k := tx.Key(); k.Branch != "" || k.Host != "pc33.atlanta.example.com" || k.Method != sip.INVITE {
			t.Fatalf("Key = %+v", k)
		}
		// A different Request-URI, From tag, Call-ID, CSeq or Via is another
		// transaction.
		tc.recv(newReq(t, reqSpec{method: sip.INVITE, uri: "sip:carol@biloxi.example.com"}))
		tc.recv(newReq(t, reqSpec{method: sip.INVITE, fromTag: "other"}))
		tc.recv(newReq(t, reqSpec{method: sip.INVITE, seq: 2}))
		tc.recv(newReq(t, reqSpec{method: sip.INVITE, sentBy: "other.example.com"}))
		tc.recv(newReq(t, reqSpec{method: sip.INVITE, toTag: "intro"}))
		if tc.numRequests() != 6 {
			t.Fatalf("%d transactions, want 6", tc.numRequests())
		}

		busy := response(inv, 486, "bob")
		tc.respond(tx, busy)
		tc.wantResponse("486", 486)
		// ACK with another To tag: not this transaction's.
		tc.recv(ackFor(t, inv, response(inv, 486, "mallory"), ""))
		if tc.numAcks() != 1 {
			t.Fatalf("foreign ACK: acks %d", tc.numAcks())
		}
		tc.wantState(tx, StateCompleted)
		tc.recv(ackFor(t, inv, busy, ""))
		if tc.numAcks() != 1 {
			t.Fatalf("ACK for 486 reached the TU")
		}
		tc.wantState(tx, StateConfirmed)

		// A CANCEL is matched with its method ignored.
		tx3 := tc.serverTx(1)
		cancel := newReq(t, reqSpec{method: sip.CANCEL, uri: "sip:carol@biloxi.example.com"})
		tc.recv(cancel)
		if len(tc.cancels) != 1 || tc.cancels[0][1] != tx3 {
			t.Fatalf("RFC 2543 CANCEL target: %v", tc.cancels)
		}

		// Accepted: the ACK goes to the TU (RFC 6026 §6).
		tx4 := tc.serverTx(3)
		ok := response(tx4.Request(), 200, "dave")
		tc.respond(tx4, ok)
		tc.wantResponse("200", 200)
		tc.recv(ackFor(t, tx4.Request(), ok, ""))
		if tc.numAcks() != 2 {
			t.Fatalf("RFC 2543 ACK in Accepted: acks %d, want 2", tc.numAcks())
		}
		tc.wantState(tx4, StateAccepted)
	})
}

// §8.2.2.2: same From tag, Call-ID and CSeq, no To tag, another branch.
func TestMerged(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		first := newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKpath1"})
		second := newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKpath2", sentBy: "proxy2.example.com"})
		if tc.l.Merged(first) {
			t.Fatal("Merged before any transaction")
		}
		tc.recv(first)
		tc.recv(second)
		tx1, tx2 := tc.serverTx(0), tc.serverTx(1)
		if tx1.Merged() || !tx2.Merged() {
			t.Fatalf("Merged() = %v, %v; want false, true", tx1.Merged(), tx2.Merged())
		}
		if tc.l.Merged(first) || !tc.l.Merged(second) {
			t.Fatal("Layer.Merged disagrees")
		}
		// In-dialog requests (To tag) and other CSeqs are never merged.
		inDialog := newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKpath3", toTag: "t"})
		other := newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKpath4", seq: 7})
		if tc.l.Merged(inDialog) || tc.l.Merged(other) {
			t.Fatal("false merge")
		}
		tc.respond(tx2, response(second, 482, "x"))
		// When the first transaction ends, the index forgets it.
		tc.respond(tx1, response(first, 404, "x"))
		tc.recv(ackFor(t, first, response(first, 404, "x"), ""))
		tc.advance(t4)
		tc.wantDone(tx1, nil, TimerNone)
		if tc.l.Merged(newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKpath5"})) {
			t.Fatal("merged with a terminated transaction")
		}
	})
}

// The Tracer sees state changes, timers and retransmissions in order.
func TestTracer(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(options(t))
		req := tc.wantRequest("OPTIONS", sip.OPTIONS)
		tc.advance(t1)
		tc.recv(response(req, 200, "bob"))
		tc.advance(t4)
		tc.wantDone(tx, nil, TimerNone)
		type ev struct {
			kind     EventKind
			from, to State
			timer    Timer
		}
		want := []ev{
			{EventState, StateNone, StateTrying, TimerNone},
			{EventTimer, StateTrying, StateTrying, TimerE},
			{EventRetransmit, StateTrying, StateTrying, TimerE},
			{EventState, StateTrying, StateCompleted, TimerNone},
			{EventTimer, StateCompleted, StateCompleted, TimerK},
			{EventState, StateCompleted, StateTerminated, TimerNone},
		}
		tc.mu.Lock()
		got := tc.events
		tc.mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("events:\n%v", got)
		}
		for i, e := range got {
			if (ev{e.Kind, e.From, e.To, e.Timer}) != want[i] || e.Key != tx.Key() || e.Machine != ClientNonInvite {
				t.Fatalf("event %d = %v, want %+v", i, e, want[i])
			}
		}
		if got[2].Message != req || got[1].Time.Sub(got[0].Time) != t1 {
			t.Fatalf("retransmit event %v", got[2])
		}
		if s := got[2].String(); s != "client non-INVITE z9hG4bK776asdhds OPTIONS: retransmit on Timer E OPTIONS" {
			t.Fatalf("String() = %q", s)
		}
	})
}

// Shutdown lets running transactions finish, refusing new ones; Close (or
// Shutdown's deadline) ends them with ErrClosed.
func TestShutdown(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		ctx := tc.request(options(t))
		req := tc.wantRequest("OPTIONS", sip.OPTIONS)
		stx, _ := tc.newInvite()
		done := make(chan error)
		go func() { done <- tc.l.Shutdown(context.Background()) }()
		synctest.Wait()
		if _, err := tc.l.Request(t.Context(), newReq(t, reqSpec{method: sip.INFO, branch: "z9hG4bKnew"}), transport.Dest{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Request during Shutdown: %v", err)
		}
		tc.recv(newReq(t, reqSpec{method: sip.OPTIONS, branch: "z9hG4bKnew"}))
		if tc.numRequests() != 1 {
			t.Fatal("new request accepted during Shutdown")
		}
		tc.take()
		tc.recv(response(req, 200, "bob")) // the running transaction goes on
		tc.wantResponses(ctx, 200)
		tc.respond(stx, response(stx.Request(), 603, "bob"))
		tc.advance(64 * t1)
		tc.wantDone(ctx, nil, TimerNone)
		tc.wantDone(stx, ErrTimeout, TimerH)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		ctx := tc.request(options(t))
		stx, _ := tc.newOptions()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := tc.l.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
		tc.wantDone(ctx, ErrClosed, TimerNone)
		tc.wantDone(stx, ErrClosed, TimerNone)
		tc.wantClosed(ctx)
		if tc.l.Len() != 0 {
			t.Fatalf("Len = %d after Close", tc.l.Len())
		}
		n := len(tc.eventsOf(EventTimer))
		tc.advance(time.Minute)
		if len(tc.eventsOf(EventTimer)) != n {
			t.Fatal("timers fired after Close")
		}
		tc.l.Close() // idempotent
	})
}

// Timers: the zero value is the RFC defaults; Table 4 and RFC 6026.
func TestTimers(t *testing.T) {
	var z Timers
	s := time.Second
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"A", z.A(), 500 * ms}, {"B", z.B(), 32 * s}, {"D unreliable", z.D(false), 32 * s}, {"D reliable", z.D(true), 0},
		{"E", z.E(), 500 * ms}, {"F", z.F(), 32 * s}, {"G", z.G(), 500 * ms}, {"H", z.H(), 32 * s},
		{"I unreliable", z.I(false), 5 * s}, {"I reliable", z.I(true), 0},
		{"J unreliable", z.J(false), 32 * s}, {"J reliable", z.J(true), 0},
		{"K unreliable", z.K(false), 5 * s}, {"K reliable", z.K(true), 0},
		{"L", z.L(), 32 * s}, {"M", z.M(), 32 * s}, {"NonInvite100", z.NonInvite100(), 3500 * ms},
		{"C", z.C(), 3*time.Minute + s},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Timer %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	big := Timers{T1: 2 * s, T2: 3 * s, T4: 1 * s}
	if big.D(false) != 128*s || big.B() != 128*s || big.K(false) != s || big.NonInvite100() != 2*s {
		t.Errorf("scaled timers: D %v B %v K %v 100 %v", big.D(false), big.B(), big.K(false), big.NonInvite100())
	}
	if (Timers{T1: -1}).A() != DefaultT1 {
		t.Error("negative T1 not defaulted")
	}
}

// Names are the RFC's.
func TestStrings(t *testing.T) {
	for s, want := range map[interface{ String() string }]string{
		StateCalling: "Calling", StateAccepted: "Accepted", StateTerminated: "Terminated", State(99): "State(99)",
		TimerA: "Timer A", TimerM: "Timer M", TimerTrying: "Timer Trying", TimerNone: "",
		ClientInvite: "client INVITE", ServerNonInvite: "server non-INVITE", EventRetransmit: "retransmit",
	} {
		if got := s.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	e := &Error{Kind: ErrTransport, Key: Key{Method: sip.INVITE, Branch: "z9hG4bKx", Host: "h", Port: 5060}, Cause: errNetDown}
	if got := e.Error(); got != "transaction: transport error in z9hG4bKx h:5060 INVITE: fake: network is unreachable" {
		t.Errorf("Error() = %q", got)
	}
}

// Nil hooks: the zero Config drops requests, ACKs and strays, and answers
// CANCELs itself.
func TestZeroConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &fakeTransport{flow: testFlow(transport.UDP)}
		l := NewLayer(tr, Config{})
		defer l.Close()
		in := func(m sip.Message) { l.HandleIncoming(transport.Incoming{Message: m, Flow: testFlow(transport.UDP)}) }
		in(options(t))
		in(newReq(t, reqSpec{method: sip.ACK, branch: "z9hG4bKa"}))
		in(response(options(t), 200, "x"))
		if l.Len() != 0 || len(tr.sent) != 0 {
			t.Fatalf("zero Config kept %d transactions, sent %d", l.Len(), len(tr.sent))
		}
		in(newReq(t, reqSpec{method: sip.CANCEL, branch: "z9hG4bKc"}))
		if len(tr.sent) != 1 || tr.sent[0].msg.(*sip.Response).StatusCode != 481 {
			t.Fatalf("CANCEL not answered 481: %v", tr.sent)
		}
		// Garbage without Via or CSeq is dropped.
		bare := sip.NewRequest(sip.OPTIONS, sip.URI{Scheme: "sip", Host: "x"})
		in(bare)
		in(&sip.Response{StatusCode: 200})
	})
}

// TestServerChains checks the chains of server transactions that share a
// match key (branch and sent-by) and differ by method: each can leave in
// any order, the others still match, and the tables end up empty.
func TestServerChains(t *testing.T) {
	methods := []sip.Method{sip.INVITE, sip.OPTIONS, sip.MESSAGE}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			run(t, transport.UDP, func(t *testing.T, tc *testConn) {
				reqs := make([]*sip.Request, len(methods))
				for i, m := range methods {
					reqs[i] = newReq(t, reqSpec{method: m, branch: testBranch, seq: uint32(i + 1)})
					tc.recv(reqs[i])
				}
				if tc.numRequests() != len(methods) || tc.l.Len() != len(methods) {
					t.Fatalf("%d requests, %d transactions", tc.numRequests(), tc.l.Len())
				}
				gone := map[int]bool{}
				for _, i := range order {
					tx := tc.serverTx(i)
					tx.mu.Lock()
					tx.terminate(nil)
					tx.mu.Unlock()
					gone[i] = true
					for j, req := range reqs {
						var m match
						m, _ = matchFor(req)
						tc.l.mu.Lock()
						found := find(tc.l.lookupChain(&m).head, &m)
						tc.l.mu.Unlock()
						if want := tc.serverTx(j); gone[j] && found != nil || !gone[j] && found != want {
							t.Fatalf("after removing %v: %s matches %p, want %p (gone %v)", order, methods[j], found, want, gone[j])
						}
					}
				}
				tc.l.mu.Lock()
				n := tc.l.servers.len() + tc.l.merged.len()
				tc.l.mu.Unlock()
				if n != 0 || tc.l.Len() != 0 {
					t.Fatalf("%d table entries and %d transactions left", n, tc.l.Len())
				}
			})
		})
	}
}
