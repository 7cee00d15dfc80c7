package transaction

import (
	"errors"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

const ms = time.Millisecond

// Figure 5: Calling --Timer A / INVITE sent--> Calling, with intervals
// that double without the T2 cap; then Calling --Timer B / inform TU-->
// Terminated at 64·T1, without an ACK.
func TestClientInviteTimerAAndB(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(invite(t))
		first := tc.wantSent("INVITE sent", isReq(sip.INVITE))
		if first.dest.Addr != remoteAddr || first.dest.Network != transport.UDP {
			t.Fatalf("INVITE sent to %+v", first.dest)
		}
		tc.wantState(tx, StateCalling)
		tc.wantRetransmissions("Timer A", isReq(sip.INVITE), t1, 2*t1, 4*t1, 8*t1, 16*t1, 32*t1)
		// 63·T1 have passed; Timer B fires at 64·T1.
		tc.advance(t1 - ms)
		tc.wantNotDone(tx)
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerB)
		tc.wantNothingSent("no ACK on Timer B")
		tc.wantResponses(tx)
		tc.wantClosed(tx)
		// Retransmissions go on the flow the INVITE went out on.
		for _, s := range tc.tr.sent[1:] {
			if s.dest.Flow != tc.flow {
				t.Fatalf("retransmission sent to %+v, want flow %v", s.dest, tc.flow)
			}
		}
	})
}

// §17.1.1.2: on a reliable transport Timer A is not started; Timer B is.
func TestClientInviteReliableTimerB(t *testing.T) {
	run(t, transport.TCP, func(t *testing.T, tc *testConn) {
		tx := tc.request(invite(t))
		tc.wantRequest("INVITE sent", sip.INVITE)
		tc.advance(64*t1 - ms)
		tc.wantNothingSent("no retransmission over TCP")
		tc.wantState(tx, StateCalling)
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerB)
	})
}

// Figure 5: Calling --1xx / 1xx to TU--> Proceeding, where
// retransmissions stop and Timer B no longer applies; Proceeding --1xx /
// 1xx to TU--> Proceeding.
func TestClientInviteProceeding(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx := tc.request(invite(t))
		inv := tc.wantRequest("INVITE sent", sip.INVITE)
		tc.advance(100 * ms)
		tc.recv(response(inv, 100, ""))
		tc.wantState(tx, StateProceeding)
		tc.wantResponses(tx, 100)
		tc.recv(response(inv, 180, "bob"))
		tc.recv(response(inv, 183, "bob"))
		tc.wantState(tx, StateProceeding)
		tc.wantResponses(tx, 180, 183)
		tc.advance(5 * time.Minute)
		tc.wantNothingSent("no retransmission in Proceeding")
		tc.wantState(tx, StateProceeding)
	})
}

// Figure 5 (RFC 6026): Calling --2xx / 2xx to TU--> Accepted and
// Proceeding --2xx--> Accepted; Accepted --2xx / 2xx to TU--> Accepted
// for retransmissions and other branches; Accepted --Timer M--> Terminated.
// No ACK is sent for a 2xx, on any transport.
func TestClientInviteAccepted(t *testing.T) {
	for _, provisional := range []bool{false, true} {
		name := "from Calling"
		if provisional {
			name = "from Proceeding"
		}
		t.Run(name, func(t *testing.T) {
			runNets(t, func(t *testing.T, tc *testConn) {
				tx := tc.request(invite(t))
				inv := tc.wantRequest("INVITE sent", sip.INVITE)
				if provisional {
					tc.recv(response(inv, 180, "bob"))
					tc.wantResponses(tx, 180)
				}
				ok := response(inv, 200, "bob")
				tc.recv(ok)
				tc.wantState(tx, StateAccepted)
				tc.wantResponses(tx, 200)
				tc.advance(2 * t1)
				tc.recv(ok)                           // retransmission
				tc.recv(response(inv, 200, "carol"))  // another branch of a fork
				tc.recv(response(inv, 486, "dave"))   // not a 2xx: absorbed
				tc.recv(response(inv, 180, "eve"))    // late provisional: absorbed
				got := tc.wantResponses(tx, 200, 200) // both 2xx to the TU
				if got[0].To().Tag() != "bob" || got[1].To().Tag() != "carol" {
					t.Fatalf("2xx To tags %q, %q", got[0].To().Tag(), got[1].To().Tag())
				}
				tc.wantNothingSent("no ACK for 2xx, no retransmission in Accepted")
				// Timer M: 64·T1 after entering Accepted.
				tc.advance(64*t1 - 2*t1 - ms)
				tc.wantState(tx, StateAccepted)
				tc.advance(ms)
				tc.wantDone(tx, nil, TimerNone)
				tc.wantClosed(tx)
				// A 2xx after Timer M matches nothing: it is stray.
				tc.recv(ok)
				if len(tc.strays) != 1 {
					t.Fatalf("strays = %d, want 1", len(tc.strays))
				}
			})
		})
	}
}

// Figure 5: Calling --300-699 / ACK sent, resp. to TU--> Completed and
// the same from Proceeding; Completed --300-699 / ACK sent--> Completed
// (the retransmission is not passed to the TU); Completed --Timer D-->
// Terminated, D being 32 s on UDP and 0 on TCP.
func TestClientInviteCompleted(t *testing.T) {
	for _, provisional := range []bool{false, true} {
		name := "from Calling"
		if provisional {
			name = "from Proceeding"
		}
		t.Run(name, func(t *testing.T) {
			runNets(t, func(t *testing.T, tc *testConn) {
				tx := tc.request(invite(t))
				inv := tc.wantRequest("INVITE sent", sip.INVITE)
				if provisional {
					tc.recv(response(inv, 183, "bob"))
					tc.wantResponses(tx, 183)
				}
				busy := response(inv, 486, "bob")
				tc.recv(busy)
				tc.wantResponses(tx, 486)
				ack := tc.wantRequest("ACK sent, even on a reliable transport", sip.ACK)
				if tc.reliable() {
					// Timer D is zero.
					tc.wantDone(tx, nil, TimerNone)
					tc.wantClosed(tx)
					return
				}
				tc.wantState(tx, StateCompleted)
				tc.advance(t1)
				tc.recv(busy)
				again := tc.wantRequest("ACK re-sent for the retransmitted final", sip.ACK)
				if again.String() != ack.String() {
					t.Fatalf("re-sent ACK differs:\n%s\nvs\n%s", again, ack)
				}
				tc.recv(response(inv, 200, "carol"))
				tc.wantResponses(tx) // neither reaches the TU
				tc.wantNothingSent("nothing for a 2xx in Completed")
				tc.advance(32*time.Second - t1 - ms)
				tc.wantState(tx, StateCompleted)
				tc.wantNothingSent("ACK is not retransmitted by itself")
				tc.advance(ms)
				tc.wantDone(tx, nil, TimerNone)
				tc.wantClosed(tx)
			})
		})
	}
}

// §17.1.1.3: the ACK for a non-2xx final response.
func TestClientInviteAckConstruction(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		req := invite(t)
		req.SetBody("application/sdp", []byte("v=0\r\n"))
		tc.request(req)
		inv := tc.wantRequest("INVITE sent", sip.INVITE)
		res := response(inv, 404, "99sa0xk")
		tc.recv(res)
		s := tc.wantSent("ACK", isReq(sip.ACK))
		ack := s.msg.(*sip.Request)
		if s.dest.Flow != tc.flow || s.dest.Addr != remoteAddr || s.dest.Network != transport.UDP {
			t.Errorf("ACK sent to %+v; want where the INVITE went", s.dest)
		}
		if !ack.URI.Equal(&inv.URI) {
			t.Errorf("Request-URI %v, want %v", ack.URI, inv.URI)
		}
		if ack.CallID() != inv.CallID() {
			t.Errorf("Call-ID %q", ack.CallID())
		}
		if ack.From().String() != inv.From().String() {
			t.Errorf("From %v, want %v", ack.From(), inv.From())
		}
		if ack.To().String() != res.To().String() || ack.To().Tag() != "99sa0xk" {
			t.Errorf("To %v, want the response's %v", ack.To(), res.To())
		}
		if cs, _ := ack.CSeq(); cs != (sip.CSeq{Seq: 314159, Method: sip.ACK}) {
			t.Errorf("CSeq %v", cs)
		}
		if vias := ack.Vias(); len(vias) != 1 || vias[0].String() != inv.TopVia().String() {
			t.Errorf("Via %v, want only %v", vias, inv.TopVia())
		}
		routes := ack.Routes()
		if len(routes) != 2 || routes[0].String() != inv.Routes()[0].String() || routes[1].String() != inv.Routes()[1].String() {
			t.Errorf("Route %v, want %v", routes, inv.Routes())
		}
		if len(ack.Body) != 0 {
			t.Errorf("ACK has a body")
		}
		if n, ok := ack.MaxForwards(); !ok || n != 70 {
			t.Errorf("Max-Forwards %d %v", n, ok)
		}
	})
}

// Figure 5: Calling --Transport Err. / inform TU--> Terminated, on the
// first send (Request fails) and on a retransmission; Completed
// --Transport Err. / inform TU--> Terminated when the ACK cannot be sent.
func TestClientInviteTransportError(t *testing.T) {
	t.Run("first send", func(t *testing.T) {
		runNets(t, func(t *testing.T, tc *testConn) {
			for _, req := range []*sip.Request{invite(t), options(t)} {
				tc.tr.setFail(failAll)
				tx, err := tc.l.Request(t.Context(), req, transport.Dest{Network: tc.net, Addr: remoteAddr})
				if tx != nil || !errors.Is(err, ErrTransport) || !errors.Is(err, errNetDown) {
					t.Fatalf("Request %v = %v, %v; want ErrTransport wrapping the cause", req.Method, tx, err)
				}
				if tc.l.Len() != 0 {
					t.Fatalf("Len = %d after failed Request", tc.l.Len())
				}
				if st := tc.eventsOf(EventState); st[len(st)-1].To != StateTerminated || !errors.Is(st[len(st)-1].Err, ErrTransport) {
					t.Fatalf("last state event %v", st[len(st)-1])
				}
			}
		})
	})
	t.Run("Timer A", func(t *testing.T) {
		run(t, transport.UDP, func(t *testing.T, tc *testConn) {
			tx := tc.request(invite(t))
			tc.wantRequest("INVITE sent", sip.INVITE)
			tc.tr.setFail(failAll)
			tc.advance(t1)
			tc.wantDone(tx, ErrTransport, TimerNone)
			if errs := tc.eventsOf(EventError); len(errs) != 1 || !errors.Is(errs[0].Err, errNetDown) {
				t.Fatalf("EventError events: %v", errs)
			}
		})
	})
	t.Run("ACK", func(t *testing.T) {
		runNets(t, func(t *testing.T, tc *testConn) {
			tx := tc.request(invite(t))
			inv := tc.wantRequest("INVITE sent", sip.INVITE)
			tc.tr.setFail(failAll)
			tc.recv(response(inv, 500, "bob"))
			tc.wantResponses(tx, 500)
			tc.wantDone(tx, ErrTransport, TimerNone)
		})
	})
}

// Figure 6: Trying --Timer E / send request--> Trying with intervals
// 500 ms, 1 s, 2 s, 4 s, 4 s… (capped at T2); Trying --Timer F / inform
// TU--> Terminated at 64·T1. RFC 4320: nothing (no 408) is sent.
func TestClientNonInviteTimerEAndF(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(options(t))
		tc.wantRequest("OPTIONS sent", sip.OPTIONS)
		tc.wantState(tx, StateTrying)
		// 0.5+1+2+4·7 = 31.5 s.
		tc.wantRetransmissions("Timer E", isReq(sip.OPTIONS), t1, 2*t1, 4*t1, t2, t2, t2, t2, t2, t2, t2)
		tc.advance(t1 - ms)
		tc.wantNotDone(tx)
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerF)
		tc.wantNothingSent("no 408 and no retransmission on Timer F")
		tc.wantClosed(tx)
	})
}

// §17.1.2.2: no Timer E on a reliable transport; Timer F still.
func TestClientNonInviteReliableTimerF(t *testing.T) {
	run(t, transport.TCP, func(t *testing.T, tc *testConn) {
		tx := tc.request(options(t))
		tc.wantRequest("OPTIONS sent", sip.OPTIONS)
		tc.advance(64*t1 - ms)
		tc.wantNothingSent("no retransmission over TCP")
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerF)
	})
}

// Figure 6: Trying --1xx / resp. to TU--> Proceeding; Proceeding --Timer
// E / send req--> Proceeding, E reset to T2; Proceeding --1xx-->
// Proceeding; Proceeding --Timer F / inform TU--> Terminated.
func TestClientNonInviteProceeding(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		start := time.Now()
		tx := tc.request(options(t))
		req := tc.wantRequest("OPTIONS sent", sip.OPTIONS)
		tc.advance(100 * ms)
		tc.recv(response(req, 100, ""))
		tc.wantState(tx, StateProceeding)
		tc.wantResponses(tx, 100)
		if !tc.reliable() {
			// Timer E was set for 500 ms; it fires, and is then T2.
			tc.wantRetransmissions("Timer E in Proceeding", isReq(sip.OPTIONS), t1-100*ms, t2, t2)
		}
		tc.recv(response(req, 100, ""))
		tc.wantResponses(tx, 100)
		tc.wantState(tx, StateProceeding)
		tc.advance(start.Add(64*t1).Sub(time.Now()) - ms)
		tc.wantNotDone(tx)
		tc.take()
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerF)
	})
}

// Figure 6: Trying --200-699 / resp. to TU--> Completed and the same from
// Proceeding; Completed absorbs retransmissions; Completed --Timer K-->
// Terminated, K being T4 on UDP and 0 on TCP.
func TestClientNonInviteCompleted(t *testing.T) {
	for _, provisional := range []bool{false, true} {
		name := "from Trying"
		if provisional {
			name = "from Proceeding"
		}
		t.Run(name, func(t *testing.T) {
			runNets(t, func(t *testing.T, tc *testConn) {
				tx := tc.request(options(t))
				req := tc.wantRequest("OPTIONS sent", sip.OPTIONS)
				if provisional {
					tc.recv(response(req, 100, ""))
					tc.wantResponses(tx, 100)
				}
				ok := response(req, 200, "bob")
				tc.recv(ok)
				tc.wantResponses(tx, 200)
				if tc.reliable() {
					tc.wantDone(tx, nil, TimerNone)
					tc.wantClosed(tx)
					return
				}
				tc.wantState(tx, StateCompleted)
				if got := tx.Request(); got != nil {
					t.Fatalf("Request in Completed = %v, want nil (let go, no copy made)", got)
				}
				tc.advance(t1)
				tc.recv(ok)
				tc.recv(response(req, 404, "bob"))
				tc.wantResponses(tx)
				tc.wantNothingSent("no retransmission in Completed")
				tc.advance(t4 - t1 - ms)
				tc.wantState(tx, StateCompleted)
				tc.advance(ms)
				tc.wantDone(tx, nil, TimerNone)
				tc.wantClosed(tx)
			})
		})
	}
}

// Figure 6: Trying/Proceeding --Transport Err. / inform TU--> Terminated.
func TestClientNonInviteTransportError(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(options(t))
		req := tc.wantRequest("OPTIONS sent", sip.OPTIONS)
		tc.recv(response(req, 100, ""))
		tc.tr.setFail(failAll)
		tc.advance(t1)
		tc.wantDone(tx, ErrTransport, TimerNone)
		tc.wantResponses(tx, 100)
		tc.wantClosed(tx)
	})
}

// §17.1.3: a response matches by branch and CSeq method, so the CANCEL
// and the INVITE it cancels have separate transactions; responses that
// match nothing go to OnStrayResponse.
func TestClientMatching(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		itx := tc.request(invite(t))
		inv := tc.wantRequest("INVITE sent", sip.INVITE)
		tc.recv(response(inv, 180, "bob"))
		tc.wantResponses(itx, 180)

		c := itx.Request()
		cancel := newReq(t, reqSpec{method: sip.CANCEL, branch: testBranch})
		if cancel.TopVia().Branch() != c.TopVia().Branch() {
			t.Fatal("CANCEL branch differs")
		}
		if d := itx.Dest(); d.Flow != tc.flow {
			t.Fatalf("Dest().Flow = %v", d.Flow)
		}
		ctx2, err := tc.l.Request(t.Context(), cancel, itx.Dest())
		if err != nil {
			t.Fatal(err)
		}
		cancelSent := tc.wantRequest("CANCEL sent", sip.CANCEL)
		tc.recv(response(cancelSent, 200, "bob"))
		tc.wantResponses(ctx2, 200)
		tc.wantResponses(itx) // the 200 to CANCEL is not the INVITE's
		tc.wantState(itx, StateProceeding)
		tc.recv(response(inv, 487, "bob"))
		tc.wantResponses(itx, 487)
		tc.wantRequest("ACK for 487", sip.ACK)

		// Same branch, other method: stray. Other branch: stray.
		other := newReq(t, reqSpec{method: sip.BYE, branch: testBranch})
		tc.recv(response(other, 200, "bob"))
		tc.recv(response(newReq(t, reqSpec{method: sip.INVITE, branch: "z9hG4bKother"}), 200, "bob"))
		if len(tc.strays) != 2 {
			t.Fatalf("strays = %d, want 2", len(tc.strays))
		}
		// Duplicate key.
		if _, err := tc.l.Request(t.Context(), invite(t), transport.Dest{Network: transport.UDP, Addr: remoteAddr}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate Request: %v", err)
		}
	})
}

// Layer.Request refuses what cannot start a client transaction.
func TestRequestValidation(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		d := transport.Dest{Network: transport.UDP, Addr: remoteAddr}
		bad := map[string]*sip.Request{
			"nil":           nil,
			"ACK":           newReq(t, reqSpec{method: sip.ACK, branch: testBranch}),
			"no cookie":     newReq(t, reqSpec{method: sip.OPTIONS, branch: "1234"}),
			"no branch":     newReq(t, reqSpec{method: sip.OPTIONS}),
			"CSeq mismatch": options(t),
		}
		bad["CSeq mismatch"].SetCSeq(sip.CSeq{Seq: 1, Method: sip.INFO})
		for name, req := range bad {
			if _, err := tc.l.Request(t.Context(), req, d); !errors.Is(err, ErrBadRequest) {
				t.Errorf("%s: err = %v, want ErrBadRequest", name, err)
			}
		}
		tc.wantNothingSent("nothing sent for bad requests")
	})
}

// A TU that gives up (§9.1) terminates the transaction; later responses
// are stray and its timer, if it fires, does nothing.
func TestClientTerminate(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(invite(t))
		inv := tc.wantRequest("INVITE sent", sip.INVITE)
		tx.Terminate()
		tc.wantDone(tx, ErrTerminated, TimerNone)
		tx.Terminate() // idempotent
		tc.advance(64 * t1)
		tc.wantNothingSent("no retransmission after Terminate")
		tc.recv(response(inv, 200, "bob"))
		if len(tc.strays) != 1 {
			t.Fatalf("strays = %d", len(tc.strays))
		}
		if n := len(tc.eventsOf(EventTimer)); n != 0 {
			t.Fatalf("%d timers fired after Terminate", n)
		}
	})
}

// The Responses channel never blocks the transaction: unread provisional
// responses beyond its capacity are dropped, the final one is not.
func TestClientResponsesOverflow(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx := tc.request(options(t))
		req := tc.wantRequest("OPTIONS sent", sip.OPTIONS)
		for range 20 {
			tc.recv(response(req, 100, ""))
		}
		tc.recv(response(req, 200, "bob"))
		got := tc.wantResponses(tx, 100, 100, 100, 200)
		_ = got
		if n := len(tc.eventsOf(EventDrop)); n != 17 {
			t.Fatalf("%d drops traced, want 17", n)
		}
	})
}

// Whether Timers A and E run is decided by the flow SendRequest returns,
// not by the destination asked for: a UDP request that went over TCP
// for its size (§18.1.1) is not retransmitted.
func TestClientReliabilityFromFlow(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tc.tr.flow = testFlow(transport.TCP)
		itx := tc.request(invite(t))
		ntx := tc.request(newReq(t, reqSpec{method: sip.MESSAGE, branch: "z9hG4bKmsg"}))
		tc.take()
		if itx.Flow() != testFlow(transport.TCP) {
			t.Fatalf("Flow() = %v", itx.Flow())
		}
		tc.advance(10 * time.Second)
		tc.wantNothingSent("no Timer A or E on the TCP flow")
		tc.advance(64 * t1)
		tc.wantDone(itx, ErrTimeout, TimerB)
		tc.wantDone(ntx, ErrTimeout, TimerF)
	})
}
