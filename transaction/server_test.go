package transaction

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// newInvite delivers an INVITE and returns its server transaction.
func (tc *testConn) newInvite() (*ServerTx, *sip.Request) {
	tc.t.Helper()
	req := invite(tc.t)
	tc.recv(req)
	tx := tc.serverTx(tc.numRequests() - 1)
	if tx.Request() != req || tx.Flow() != tc.flow {
		tc.t.Fatalf("OnRequest got request %p on %v", tx.Request(), tx.Flow())
	}
	return tx, req
}

// Figure 7: INVITE / pass INV to TU, send 100 if TU won't in 200 ms.
func TestServerInviteTrying100(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		tc.wantState(tx, StateProceeding)
		tc.advance(trying100 - ms)
		tc.wantNothingSent("no 100 before 200 ms")
		tc.advance(ms)
		trying := tc.wantResponse("100 Trying after 200 ms", 100)
		if trying.To().Tag() != "" {
			t.Errorf("100 Trying has a To tag (§17.2.1: SHOULD NOT)")
		}
		if trying.CallID() != req.CallID() {
			t.Errorf("100 Trying Call-ID %q", trying.CallID())
		}
		tc.wantState(tx, StateProceeding)
		// Proceeding --INVITE / send response--> Proceeding.
		tc.recv(req)
		tc.wantResponse("100 re-sent for a retransmitted INVITE", 100)
		if tc.numRequests() != 1 {
			t.Fatalf("OnRequest called %d times", tc.numRequests())
		}
		if tx.Response() != trying {
			t.Errorf("Response() = %v", tx.Response())
		}
	})
}

// §17.2.1: no 100 when the TU answers within 200 ms.
func TestServerInviteNo100WhenTUAnswers(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		tc.advance(150 * ms)
		tc.respond(tx, response(req, 180, "bob"))
		tc.wantResponse("180 sent", 180)
		tc.advance(10 * time.Second)
		tc.wantNothingSent("no 100 after the TU's 180")
	})
}

// Figure 7: Proceeding --101-199 from TU / send response--> Proceeding;
// Proceeding --INVITE / send response--> Proceeding resends the most
// recent provisional (nothing before there is one).
func TestServerInviteProceeding(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		tc.advance(50 * ms)
		tc.recv(req)
		tc.wantNothingSent("no provisional yet")
		tc.respond(tx, response(req, 180, "bob"))
		tc.wantResponse("180 sent", 180)
		tc.recv(req)
		tc.wantResponse("180 re-sent", 180)
		tc.respond(tx, response(req, 183, "bob"))
		tc.wantResponse("183 sent", 183)
		tc.recv(req)
		tc.wantResponse("183 re-sent", 183)
		tc.wantState(tx, StateProceeding)
		if tc.numRequests() != 1 {
			t.Fatalf("OnRequest called %d times", tc.numRequests())
		}
		tc.advance(5 * time.Minute)
		tc.wantNothingSent("provisionals are not retransmitted by the transaction")
		tc.wantNotDone(tx)
	})
}

// RFC 6026 Figure 7: Proceeding --2xx from TU / send response--> Accepted;
// Accepted --2xx from TU / send response--> Accepted (the TU's
// retransmissions); Accepted --INVITE / absorb; Accepted --ACK / to TU;
// Accepted --Timer L--> Terminated, on every transport.
func TestServerInviteAccepted(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		ok := response(req, 200, "bob")
		tc.respond(tx, ok)
		tc.wantResponse("200 sent", 200)
		tc.wantState(tx, StateAccepted)
		tc.advance(t1)
		tc.wantNothingSent("the transaction does not retransmit 2xx")
		tc.respond(tx, ok)
		tc.wantResponse("the TU's 2xx retransmission is sent", 200)
		tc.recv(req)
		tc.wantNothingSent("INVITE retransmission absorbed in Accepted")
		if tc.numRequests() != 1 {
			t.Fatalf("INVITE retransmission reached the TU")
		}
		// The ACK for a 2xx has a new branch: it matches nothing.
		tc.recv(ackFor(t, req, ok, "z9hG4bKack2xx"))
		// One that matches the transaction in Accepted goes to the TU too.
		tc.recv(ackFor(t, req, ok, ""))
		if tc.numAcks() != 2 {
			t.Fatalf("OnAck called %d times, want 2", tc.numAcks())
		}
		for _, code := range []sip.StatusCode{180, 486} {
			if err := tx.Respond(t.Context(), response(req, code, "bob")); !errors.Is(err, ErrFinalSent) {
				t.Fatalf("Respond %d in Accepted: %v", code, err)
			}
		}
		tc.wantNothingSent("refused responses are not sent")
		tc.advance(64*t1 - t1 - ms)
		tc.wantState(tx, StateAccepted)
		tc.advance(ms)
		tc.wantDone(tx, nil, TimerNone)
		if err := tx.Respond(t.Context(), ok); !errors.Is(err, ErrTerminated) {
			t.Fatalf("Respond after Timer L: %v", err)
		}
	})
}

// Figure 7: Proceeding --300-699 from TU / send response--> Completed;
// Completed --Timer G / send response--> Completed with intervals that
// double up to T2 (UDP only); Completed --Timer H / inform TU-->
// Terminated at 64·T1.
func TestServerInviteTimerGAndH(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		tc.respond(tx, response(req, 486, "bob"))
		tc.wantResponse("486 sent", 486)
		tc.wantState(tx, StateCompleted)
		if tc.reliable() {
			tc.advance(64*t1 - ms)
			tc.wantNothingSent("no Timer G over TCP")
		} else {
			// 0.5+1+2+4·7 = 31.5 s
			tc.wantRetransmissions("Timer G", isRes(486), t1, 2*t1, 4*t1, t2, t2, t2, t2, t2, t2, t2)
			tc.advance(t1 - ms)
		}
		tc.wantNotDone(tx)
		tc.advance(ms)
		tc.wantDone(tx, ErrTimeout, TimerH)
		tc.wantNothingSent("nothing sent on Timer H")
	})
}

// Figure 7: Completed --INVITE / send response--> Completed; Completed
// --ACK / - --> Confirmed (retransmissions cease); Confirmed absorbs ACK
// and INVITE; Confirmed --Timer I--> Terminated, I being T4 on UDP and 0
// on TCP.
func TestServerInviteConfirmed(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		busy := response(req, 486, "bob")
		tc.respond(tx, busy)
		tc.wantResponse("486 sent", 486)
		tc.advance(100 * ms)
		tc.recv(req)
		tc.wantResponse("486 re-sent for a retransmitted INVITE", 486)
		ack := ackFor(t, req, busy, "")
		tc.recv(ack)
		if tc.numAcks() != 0 {
			t.Fatalf("ACK for a non-2xx reached the TU")
		}
		if tc.reliable() {
			tc.wantDone(tx, nil, TimerNone)
			return
		}
		tc.wantState(tx, StateConfirmed)
		tc.advance(2 * t1)
		tc.wantNothingSent("Timer G stopped in Confirmed")
		tc.recv(ack)
		tc.recv(req)
		tc.wantNothingSent("Confirmed absorbs ACK and INVITE")
		if tc.numAcks() != 0 || tc.numRequests() != 1 {
			t.Fatalf("absorbed messages reached the TU")
		}
		tc.advance(t4 - 2*t1 - ms)
		tc.wantState(tx, StateConfirmed)
		tc.advance(ms)
		tc.wantDone(tx, nil, TimerNone)
		if err := tx.Respond(t.Context(), busy); !errors.Is(err, ErrTerminated) {
			t.Fatalf("Respond after Terminated: %v", err)
		}
	})
}

// RFC 6026 Figure 7: a transport error informs the TU and leaves the state
// unchanged, in Proceeding, Completed and Accepted.
func TestServerInviteTransportError(t *testing.T) {
	t.Run("Proceeding and Completed", func(t *testing.T) {
		runNets(t, func(t *testing.T, tc *testConn) {
			tx, req := tc.newInvite()
			tc.tr.setFail(failAll)
			if err := tx.Respond(t.Context(), response(req, 180, "bob")); !errors.Is(err, ErrTransport) || !errors.Is(err, errNetDown) {
				t.Fatalf("Respond 180: %v", err)
			}
			tc.wantState(tx, StateProceeding)
			if err := tx.Respond(t.Context(), response(req, 503, "bob")); !errors.Is(err, ErrTransport) {
				t.Fatalf("Respond 503: %v", err)
			}
			tc.wantState(tx, StateCompleted)
			tc.advance(10 * time.Second)
			tc.wantState(tx, StateCompleted)
			tc.tr.setFail(nil)
			tc.recv(req)
			tc.wantResponse("final re-sent once the transport works", 503)
			tc.advance(64 * t1)
			tc.wantDone(tx, ErrTimeout, TimerH)
		})
	})
	t.Run("Accepted", func(t *testing.T) {
		runNets(t, func(t *testing.T, tc *testConn) {
			tx, req := tc.newInvite()
			tc.tr.setFail(failAll)
			if err := tx.Respond(t.Context(), response(req, 200, "bob")); !errors.Is(err, ErrTransport) {
				t.Fatalf("Respond 200: %v", err)
			}
			tc.wantState(tx, StateAccepted)
			tc.recv(req)
			if tc.numRequests() != 1 {
				t.Fatal("retransmission after a transport error treated as new")
			}
			tc.advance(64 * t1)
			tc.wantDone(tx, nil, TimerNone)
		})
	})
}

// Respond refuses what no state accepts.
func TestServerRespondValidation(t *testing.T) {
	run(t, transport.UDP, func(t *testing.T, tc *testConn) {
		tx, req := tc.newInvite()
		for _, res := range []*sip.Response{nil, response(req, 99, "x"), response(req, 700, "x")} {
			if err := tx.Respond(t.Context(), res); !errors.Is(err, ErrBadResponse) {
				t.Errorf("Respond(%v) = %v", res, err)
			}
		}
		tc.respond(tx, response(req, 404, "bob"))
		tc.take()
		for _, code := range []sip.StatusCode{180, 200, 404} {
			if err := tx.Respond(t.Context(), response(req, code, "bob")); !errors.Is(err, ErrFinalSent) {
				t.Errorf("Respond %d in Completed: %v", code, err)
			}
		}
		tc.wantNothingSent("refused responses are not sent")
	})
}

// newOptions delivers an OPTIONS and returns its server transaction.
func (tc *testConn) newOptions() (*ServerTx, *sip.Request) {
	tc.t.Helper()
	req := options(tc.t)
	tc.recv(req)
	return tc.serverTx(tc.numRequests() - 1), req
}

// Figure 8: Trying absorbs request retransmissions; RFC 4320 §4.1: no 100
// before Timer E would reach T2 (3.5 s), then 100 if the TU is silent —
// Trying --> Proceeding — and Proceeding --Request / send response-->
// Proceeding resends it.
func TestServerNonInviteTrying(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newOptions()
		tc.wantState(tx, StateTrying)
		// A client on UDP retransmits at 0.5, 1.5 and 3.5 s.
		for _, d := range []time.Duration{t1, 2 * t1, 4*t1 - ms} {
			tc.advance(d)
			tc.recv(req)
		}
		tc.wantNothingSent("no response to retransmissions in Trying, no early 100")
		if tc.numRequests() != 1 {
			t.Fatalf("OnRequest called %d times", tc.numRequests())
		}
		if got := tc.l.timers.NonInvite100(); got != 3500*ms {
			t.Fatalf("NonInvite100 = %v", got)
		}
		tc.advance(ms)
		tc.wantResponse("100 once Timer E would reach T2 (RFC 4320)", 100)
		tc.wantState(tx, StateProceeding)
		tc.recv(req)
		tc.wantResponse("100 re-sent in Proceeding", 100)
		tc.respond(tx, response(req, 200, "bob"))
		tc.wantResponse("200 sent", 200)
	})
}

// RFC 4320 §4.1: only 100 as provisional, and over UDP not before Timer E
// would reach T2; over TCP at any time. Trying --1xx from TU / send
// response--> Proceeding.
func TestServerNonInviteProvisionals(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newOptions()
		if err := tx.Respond(t.Context(), response(req, 180, "bob")); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("Respond 180 to OPTIONS: %v", err)
		}
		err := tx.Respond(t.Context(), response(req, 100, ""))
		if !tc.reliable() {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("early 100 over UDP: %v", err)
			}
			tc.wantState(tx, StateTrying)
			tc.wantNothingSent("refused 100 not sent")
			return
		}
		if err != nil {
			t.Fatalf("100 over TCP: %v", err)
		}
		tc.wantResponse("100 sent", 100)
		tc.wantState(tx, StateProceeding)
		tc.advance(time.Minute)
		tc.wantNothingSent("no second 100")
	})
}

// Figure 8: Trying --200-699 from TU / send response--> Completed and the
// same from Proceeding; Completed --Request / send response--> Completed;
// other finals discarded; Completed --Timer J--> Terminated, J being
// 64·T1 on UDP and 0 on TCP.
func TestServerNonInviteCompleted(t *testing.T) {
	for _, provisional := range []bool{false, true} {
		name := "from Trying"
		if provisional {
			name = "from Proceeding"
		}
		t.Run(name, func(t *testing.T) {
			runNets(t, func(t *testing.T, tc *testConn) {
				tx, req := tc.newOptions()
				if provisional {
					tc.advance(tc.l.timers.NonInvite100())
					tc.wantResponse("100", 100)
					tc.wantState(tx, StateProceeding)
				}
				tc.respond(tx, response(req, 200, "bob"))
				tc.wantResponse("200 sent", 200)
				if tc.reliable() {
					tc.wantDone(tx, nil, TimerNone)
					return
				}
				tc.wantState(tx, StateCompleted)
				tc.recv(req)
				tc.wantResponse("200 re-sent", 200)
				if err := tx.Respond(t.Context(), response(req, 500, "bob")); !errors.Is(err, ErrFinalSent) {
					t.Fatalf("second final: %v", err)
				}
				tc.wantNothingSent("second final discarded")
				tc.advance(64*t1 - ms)
				tc.wantState(tx, StateCompleted)
				tc.wantNothingSent("final not retransmitted by itself")
				tc.advance(ms)
				tc.wantDone(tx, nil, TimerNone)
				tc.recv(req)
				if tc.numRequests() != 2 {
					t.Fatalf("request after Timer J: OnRequest called %d times, want 2", tc.numRequests())
				}
			})
		})
	}
}

// RFC 6026 §8.8 (the amended §17.2.4): a transport error informs the TU
// and the transaction "MUST remain in the current state".
func TestServerNonInviteTransportError(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, req := tc.newOptions()
		tc.tr.setFail(failAll)
		if tc.reliable() {
			if err := tx.Respond(t.Context(), response(req, 100, "")); !errors.Is(err, ErrTransport) {
				t.Fatalf("Respond 100: %v", err)
			}
			tc.wantState(tx, StateProceeding)
		}
		if err := tx.Respond(t.Context(), response(req, 200, "bob")); !errors.Is(err, ErrTransport) {
			t.Fatalf("Respond: %v", err)
		}
		if tc.reliable() {
			tc.wantDone(tx, nil, TimerNone) // Timer J is zero
			return
		}
		tc.wantState(tx, StateCompleted)
		tc.tr.setFail(nil)
		tc.recv(req)
		tc.wantResponse("final re-sent", 200)
		if tc.numRequests() != 1 {
			t.Fatal("retransmission treated as new")
		}
		tc.advance(64 * t1)
		tc.wantDone(tx, nil, TimerNone)
	})
}

// Retransmissions racing with the TU's responses: one OnRequest, no data
// race (run with -race), and the transaction ends normally. Real time.
func TestServerConcurrentRetransmissions(t *testing.T) {
	tc := newTestConn(t, transport.TCP)
	defer tc.l.Close()
	req := invite(t)
	tc.l.HandleIncoming(transport.Incoming{Message: req, Flow: tc.flow})
	tx := tc.serverTx(0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				tc.l.HandleIncoming(transport.Incoming{Message: req, Flow: tc.flow})
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			_ = tx.Respond(t.Context(), response(req, 180, "bob"))
		}
		_ = tx.Respond(t.Context(), response(req, 486, "bob"))
	})
	wg.Wait()
	// The ACK ends it (Timer I is zero on TCP); a retransmission after
	// that would be a new request.
	tc.l.HandleIncoming(transport.Incoming{Message: ackFor(t, req, response(req, 486, "bob"), ""), Flow: tc.flow})
	if tc.numRequests() != 1 {
		t.Fatalf("OnRequest called %d times", tc.numRequests())
	}
	select {
	case <-tx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("not terminated: %v", tx.State())
	}
	if tx.Err() != nil || tc.l.Len() != 0 {
		t.Fatalf("Err %v, Len %d", tx.Err(), tc.l.Len())
	}
}

// AfterTerminate's functions run once each, in the order given, when the
// transaction terminates, after it has left the
// Layer's tables; one given afterwards runs at once.
func TestServerAfterTerminate(t *testing.T) {
	runNets(t, func(t *testing.T, tc *testConn) {
		tx, _ := tc.newInvite()
		var order []int
		for i := range 3 {
			tx.AfterTerminate(func() {
				if tc.l.Len() != 0 {
					t.Errorf("function %d runs while the transaction is still in the tables", i)
				}
				order = append(order, i)
			})
		}
		if len(order) != 0 {
			t.Fatalf("ran before the end: %v", order)
		}
		for range 2 { // the second time does nothing
			tx.mu.Lock()
			tx.terminate(nil)
			tx.mu.Unlock()
		}
		if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
			t.Fatalf("ran %v, want [0 1 2]", order)
		}
		tx.AfterTerminate(func() { order = append(order, 3) })
		if len(order) != 4 {
			t.Fatalf("one given after the end did not run at once: %v", order)
		}
	})
}
