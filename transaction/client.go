package transaction

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// Capacity of ClientTx.Responses. One slot is kept for the final response,
// which is never dropped.
const (
	inviteResponseBuffer    = 8
	nonInviteResponseBuffer = 4
)

// ClientTx is a client transaction (RFC 3261 §17.1): it sends a request,
// retransmits it on unreliable transports, and passes the responses to the
// TU, filtering out retransmissions. It runs the INVITE machine of §17.1.1
// (Figure 5 as replaced by RFC 6026) or the non-INVITE machine of §17.1.2
// (Figure 6). Create one with [Layer.Request].
//
// Its methods are safe for concurrent use.
type ClientTx struct {
	core
	req *sip.Request // nil once a non-INVITE has completed (under core.mu)
	res chan *sip.Response
	h   uint64 // hash of key in the Layer's table

	// The Dest given to Request, kept as its parts (one Flow less per
	// transaction): its Flow is in flow until the request has gone out on
	// a flow (sent), and flow is that flow from then on. Owned by core.mu.
	addr    netip.AddrPort
	host    string
	flow    transport.Flow
	network transport.Network
	sent    bool

	inserted bool // in the Layer's table; owned by Layer.mu

	// Owned by core.mu.
	final  bool // a final response has been given to the TU
	clone  *sip.Request
	inv    clientInvite
	nonInv clientNonInvite
}

func newClientTx(l *Layer, key Key, req *sip.Request, d transport.Dest) *ClientTx {
	tx := &ClientTx{req: req, addr: d.Addr, host: d.Host, flow: d.Flow, network: d.Network}
	if req.Method == sip.INVITE {
		tx.inv.tx = tx
		tx.core.init(l, key, ClientInvite, &tx.inv)
		tx.res = make(chan *sip.Response, inviteResponseBuffer)
	} else {
		tx.nonInv.tx = tx
		tx.core.init(l, key, ClientNonInvite, &tx.nonInv)
		tx.res = make(chan *sip.Response, nonInviteResponseBuffer)
	}
	return tx
}

// Key returns the transaction's key: the branch of the request's top Via
// and its method.
func (tx *ClientTx) Key() Key { return tx.key }

// State returns the machine's current state.
func (tx *ClientTx) State() State { return tx.currentState() }

// Done returns a channel that is closed when the transaction terminates.
func (tx *ClientTx) Done() <-chan struct{} { return tx.doneChan() }

// Err returns nil while the transaction runs and after a normal end (a
// final response was received), or the [*Error] it terminated with:
// ErrTimeout (Timer B or F fired: treat as 408, §8.1.3.1), ErrTransport
// (treat as 503), ErrClosed or ErrTerminated.
func (tx *ClientTx) Err() error { return tx.termErr() }

// Responses returns the channel on which the transaction passes responses
// to the TU, in the order received: provisional responses, then the final
// response; for an INVITE, every 2xx received in the Accepted state too —
// retransmissions and 2xx from other branches of a fork (RFC 6026 §7.2).
// Retransmissions of a non-2xx final are not passed on (§17.1.1.2). The
// channel is closed when the transaction terminates.
//
// The channel is buffered and never blocks the transaction. Read it
// promptly: a provisional response, or a 2xx after the first final, that
// finds it full is dropped (and reported to the Tracer as EventDrop); the
// first final response always has room.
func (tx *ClientTx) Responses() <-chan *sip.Response { return tx.res }

// Request returns a copy of the request the transaction sends, as last
// passed to the transport (the transport sets the top Via's sent-by and
// transport). Use it to build the CANCEL of §9.1, whose Request-URI,
// Call-ID, To, From, CSeq number, top Via and Route "MUST" be those of the
// request being cancelled. The copy is made once, on the first call, and
// shared by later calls: treat it as read-only.
//
// A non-INVITE transaction lets its request go once a final response has
// arrived (in Completed it only absorbs retransmitted responses,
// §17.1.2.2): Request then returns the copy if one was made, else nil.
func (tx *ClientTx) Request() *sip.Request {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.clone == nil && tx.req != nil {
		tx.clone = tx.req.Clone()
	}
	return tx.clone
}

// Flow returns the flow the request went out on, or the zero Flow if it
// has not been sent.
func (tx *ClientTx) Flow() transport.Flow {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.sent {
		return transport.Flow{}
	}
	return tx.flow
}

// Dest returns where the transaction sends retransmissions and, for an
// INVITE, the ACK of §17.1.1.3: the flow the request went out on, with
// its network and remote address as fallback. §9.1: a CANCEL "MUST" go to
// the same destination as the request it cancels; send it here.
func (tx *ClientTx) Dest() transport.Dest {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.resendDest()
}

// Terminate ends the transaction at once, with [ErrTerminated]: the
// request is no longer retransmitted and later responses are treated as
// stray. It is for a TU that gives up, as §9.1 allows when a cancelled
// INVITE gets no final response within 64·T1. It does nothing if the
// transaction has already terminated.
func (tx *ClientTx) Terminate() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.terminate(&Error{Kind: ErrTerminated, Key: tx.key})
}

// resendDest is the destination of retransmissions and of the ACK. Caller
// holds mu.
func (tx *ClientTx) resendDest() transport.Dest {
	if !tx.sent {
		return tx.dest()
	}
	d := transport.Dest{Network: tx.flow.Network, Addr: tx.flow.Remote, Host: tx.host, Flow: tx.flow}
	if !d.Addr.IsValid() {
		d.Addr = tx.addr
	}
	return d
}

// dest returns the Dest given to Request, until the request has gone out
// on a flow (sent). Caller holds mu.
func (tx *ClientTx) dest() transport.Dest {
	return transport.Dest{Network: tx.network, Addr: tx.addr, Host: tx.host, Flow: tx.flow}
}

// start is the entry arrow of Figures 5 and 6: pass the request to the
// transport and note whether the flow it went out on is reliable. On a
// transport error the transaction terminates (§17.1.4).
func (tx *ClientTx) start(ctx context.Context) error {
	flow, err := tx.l.t.SendRequest(ctx, tx.req, tx.dest())
	if err != nil {
		tx.traceMsg(EventError, TimerNone, tx.req, err)
		e := tx.transportError(err)
		tx.terminate(e)
		return e
	}
	if flow.IsZero() {
		tx.reliable = tx.network.Reliable()
	} else {
		tx.flow, tx.sent = flow, true
		tx.reliable = flow.Reliable()
	}
	return nil
}

// retransmit passes the request to the transport once more: "The formal
// definition of retransmit within the context of the transaction layer is
// to take the message previously sent to the transport layer and pass it
// to the transport layer once more" (§17.1.1.2). A transport error
// terminates the transaction (§17.1.4) and returns false.
func (tx *ClientTx) retransmit(ctx context.Context, t Timer) bool {
	tx.traceMsg(EventRetransmit, t, tx.req, nil)
	if _, err := tx.l.t.SendRequest(ctx, tx.req, tx.resendDest()); err != nil {
		tx.traceMsg(EventError, t, tx.req, err)
		tx.terminate(tx.transportError(err))
		return false
	}
	return true
}

// deliver passes res to the TU without blocking.
func (tx *ClientTx) deliver(res *sip.Response) {
	final := res.StatusCode.Final()
	if !final && !tx.final && len(tx.res) >= cap(tx.res)-1 {
		tx.traceMsg(EventDrop, TimerNone, res, nil)
		return
	}
	select {
	case tx.res <- res:
		if final {
			tx.final = true
		}
	default:
		tx.traceMsg(EventDrop, TimerNone, res, nil)
	}
}

// finish removes the transaction from its Layer and closes Responses.
func (tx *ClientTx) finish() {
	close(tx.res)
	tx.l.removeClient(tx)
}

// clientInvite is the INVITE client transaction of RFC 3261 §17.1.1.2,
// Figure 5, as replaced by RFC 6026 §8.4 (the Accepted state and Timer M).
//
//	Calling    --1xx / to TU-----------------------> Proceeding
//	Calling    --Timer A / retransmit, A=2A-------> Calling        (unreliable only)
//	Calling    --Timer B or transport error / TU--> Terminated
//	Calling,
//	Proceeding --2xx / to TU, start M-------------> Accepted
//	Calling,
//	Proceeding --300-699 / to TU, ACK, start D----> Completed
//	Proceeding --1xx / to TU----------------------> Proceeding
//	Completed  --300-699 / ACK--------------------> Completed
//	Completed  --transport error / TU-------------> Terminated
//	Completed  --Timer D--------------------------> Terminated
//	Accepted   --2xx / to TU----------------------> Accepted
//	Accepted   --Timer M--------------------------> Terminated
type clientInvite struct {
	tx  *ClientTx
	a   time.Duration // current Timer A interval
	ack *sip.Request  // the ACK for the non-2xx final response
}

func (m *clientInvite) finish() { m.tx.finish() }

func (m *clientInvite) handle(ctx context.Context, ev event) result {
	tx := m.tx
	switch tx.state {
	case StateNone:
		if _, ok := ev.(tuRequest); ok {
			// §17.1.1.2: "The initial state, 'calling', MUST be entered
			// when the TU initiates a new client transaction with an
			// INVITE request. The client transaction MUST pass the
			// request to the transport layer for transmission".
			if err := tx.start(ctx); err != nil {
				return result{err: err}
			}
			tx.setState(StateCalling)
			t := tx.l.timers
			// "If an unreliable transport is being used, the client
			// transaction MUST start timer A with a value of T1. If a
			// reliable transport is being used, the client transaction
			// SHOULD NOT start timer A".
			if !tx.reliable {
				m.a = t.A()
				tx.arm(TimerA, m.a)
			}
			// "For any transport, the client transaction MUST start
			// timer B with a value of 64*T1 seconds".
			tx.arm(TimerB, t.B())
		}
	case StateCalling:
		switch ev := ev.(type) {
		case recvResponse:
			m.response(ctx, ev.res)
		case timerFired:
			switch ev.t {
			case TimerA:
				// "When timer A fires, the client transaction MUST
				// retransmit the request ... This process MUST continue
				// so that the request is retransmitted with intervals
				// that double after each transmission."
				if tx.retransmit(ctx, TimerA) {
					m.a *= 2
					tx.arm(TimerA, m.a)
				}
			case TimerB:
				// "If the client transaction is still in the 'Calling'
				// state when timer B fires, the client transaction SHOULD
				// inform the TU that a timeout has occurred. The client
				// transaction MUST NOT generate an ACK."
				tx.terminate(&Error{Kind: ErrTimeout, Key: tx.key, Timer: TimerB})
			}
		}
	case StateProceeding:
		if ev, ok := ev.(recvResponse); ok {
			m.response(ctx, ev.res)
		}
	case StateCompleted:
		switch ev := ev.(type) {
		case recvResponse:
			if ev.res.StatusCode >= 300 {
				// RFC 6026 §8.4: "Any retransmissions of a response with
				// status code 300-699 that are received while in the
				// 'Completed' state MUST cause the ACK to be re-passed to
				// the transport layer for retransmission, but the newly
				// received response MUST NOT be passed up to the TU."
				tx.traceMsg(EventAbsorb, TimerNone, ev.res, nil)
				tx.traceMsg(EventRetransmit, TimerNone, m.ack, nil)
				m.sendAck(ctx)
			} else {
				tx.traceMsg(EventAbsorb, TimerNone, ev.res, nil)
			}
		case timerFired:
			if ev.t == TimerD {
				// "If Timer D fires while the client transaction is in the
				// 'Completed' state, the client transaction MUST move to
				// the 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateAccepted:
		switch ev := ev.(type) {
		case recvResponse:
			if ev.res.StatusCode.Success() {
				// RFC 6026 §8.4: "Any 2xx responses that match this client
				// transaction and that are received while in the
				// 'Accepted' state MUST be passed up to the TU. The client
				// transaction MUST NOT generate an ACK to the 2xx
				// response."
				tx.deliver(ev.res)
			} else {
				tx.traceMsg(EventAbsorb, TimerNone, ev.res, nil)
			}
		case timerFired:
			if ev.t == TimerM {
				// "If Timer M fires while the client transaction is in the
				// 'Accepted' state, the client transaction MUST move to the
				// 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateTerminated:
		return result{stale: true}
	default:
		panic(fmt.Sprintf("transaction: client INVITE in impossible state %v", tx.state))
	}
	return result{}
}

// response handles a response in Calling or Proceeding.
func (m *clientInvite) response(ctx context.Context, res *sip.Response) {
	tx := m.tx
	code := res.StatusCode
	switch {
	case code < 100 || code > 699:
		tx.traceMsg(EventAbsorb, TimerNone, res, nil)
	case code.Provisional():
		// §17.1.1.2: "If the client transaction receives a provisional
		// response while in the 'Calling' state, it transitions to the
		// 'Proceeding' state. In the 'Proceeding' state, the client
		// transaction SHOULD NOT retransmit the request any longer.
		// Furthermore, the provisional response MUST be passed to the TU."
		// Timer B applies to Calling only.
		if tx.state == StateCalling {
			tx.disarm(TimerA)
			tx.disarm(TimerB)
			tx.setState(StateProceeding)
		}
		tx.deliver(res)
	case code.Success():
		// RFC 6026 §8.4: "When a 2xx response is received while in either
		// the 'Calling' or 'Proceeding' states, the client transaction
		// MUST transition to the 'Accepted' state, and Timer M MUST be
		// started with a value of 64*T1. The 2xx response MUST be passed
		// up to the TU. The client transaction MUST NOT generate an ACK
		// to the 2xx response".
		tx.disarm(TimerA)
		tx.disarm(TimerB)
		tx.setState(StateAccepted)
		tx.arm(TimerM, tx.l.timers.M())
		tx.deliver(res)
	default:
		// RFC 6026 §8.4: "reception of a response with status code from
		// 300-699 MUST cause the client transaction to transition to
		// 'Completed'. The client transaction MUST pass the received
		// response up to the TU, and the client transaction MUST generate
		// an ACK request, even if the transport is reliable ... The
		// client transaction MUST start Timer D when it enters the
		// 'Completed' state".
		tx.disarm(TimerA)
		tx.disarm(TimerB)
		tx.setState(StateCompleted)
		tx.deliver(res)
		m.ack = m.buildAck(res)
		if m.sendAck(ctx) {
			tx.arm(TimerD, tx.l.timers.D(tx.reliable))
		}
	}
}

// sendAck passes the ACK to the transport. "The ACK MUST be sent to the
// same address, port, and transport to which the original request was
// sent." A transport error in Completed terminates the transaction
// (Figure 5) and returns false.
func (m *clientInvite) sendAck(ctx context.Context) bool {
	tx := m.tx
	if _, err := tx.l.t.SendRequest(ctx, m.ack, tx.resendDest()); err != nil {
		tx.traceMsg(EventError, TimerNone, m.ack, err)
		tx.terminate(tx.transportError(err))
		return false
	}
	return true
}

// buildAck constructs the ACK for a non-2xx final response (§17.1.1.3).
func (m *clientInvite) buildAck(res *sip.Response) *sip.Request {
	req := m.tx.req
	// "The ACK request constructed by the client transaction MUST contain
	// values for the Call-ID, From, and Request-URI that are equal to the
	// values of those header fields in the request passed to the transport
	// by the client transaction".
	ack := sip.NewRequest(sip.ACK, req.URI)
	// "The ACK MUST contain a single Via header field, and this MUST be
	// equal to the top Via header field of the original request."
	if v := req.TopVia(); v != nil {
		ack.PrependVia(*v)
	}
	// "If the INVITE request whose response is being acknowledged had
	// Route header fields, those header fields MUST appear in the ACK."
	routes := req.Routes()
	for i := len(routes) - 1; i >= 0; i-- {
		ack.PrependRoute(routes[i])
	}
	if n, ok := req.MaxForwards(); ok {
		ack.SetMaxForwards(n)
	} else {
		ack.SetMaxForwards(70)
	}
	if from := req.From(); from != nil {
		ack.SetFrom(*from)
	}
	// "The To header field in the ACK MUST equal the To header field in
	// the response being acknowledged".
	if to := res.To(); to != nil {
		ack.SetTo(*to)
	}
	ack.SetCallID(req.CallID())
	// "The CSeq header field in the ACK MUST contain the same value for
	// the sequence number as was present in the original request, but the
	// method parameter MUST be equal to 'ACK'."
	cs, _ := req.CSeq()
	ack.SetCSeq(sip.CSeq{Seq: cs.Seq, Method: sip.ACK})
	return ack
}

// clientNonInvite is the non-INVITE client transaction of RFC 3261
// §17.1.2.2, Figure 6.
//
//	Trying     --Timer E / retransmit, E=min(2E,T2)--> Trying     (unreliable only)
//	Trying     --1xx / to TU------------------------> Proceeding
//	Trying,
//	Proceeding --200-699 / to TU, start K-----------> Completed
//	Trying,
//	Proceeding --Timer F or transport error / TU---> Terminated
//	Proceeding --Timer E / retransmit, E=T2---------> Proceeding  (unreliable only)
//	Proceeding --1xx / to TU------------------------> Proceeding
//	Completed  --any response / absorb--------------> Completed
//	Completed  --Timer K----------------------------> Terminated
type clientNonInvite struct {
	tx *ClientTx
	e  time.Duration // current Timer E interval
}

func (m *clientNonInvite) finish() { m.tx.finish() }

func (m *clientNonInvite) handle(ctx context.Context, ev event) result {
	tx := m.tx
	t := tx.l.timers
	switch tx.state {
	case StateNone:
		if _, ok := ev.(tuRequest); ok {
			// §17.1.2.2: "The 'Trying' state is entered when the TU
			// initiates a new client transaction with a request. When
			// entering this state, the client transaction SHOULD set timer
			// F to fire in 64*T1 seconds. The request MUST be passed to
			// the transport layer for transmission. If an unreliable
			// transport is in use, the client transaction MUST set timer E
			// to fire in T1 seconds."
			if err := tx.start(ctx); err != nil {
				return result{err: err}
			}
			tx.setState(StateTrying)
			if !tx.reliable {
				m.e = t.E()
				tx.arm(TimerE, m.e)
			}
			tx.arm(TimerF, t.F())
		}
	case StateTrying, StateProceeding:
		switch ev := ev.(type) {
		case recvResponse:
			code := ev.res.StatusCode
			switch {
			case code < 100 || code > 699:
				tx.traceMsg(EventAbsorb, TimerNone, ev.res, nil)
			case code.Provisional():
				// "If a provisional response is received while in the
				// 'Trying' state, the response MUST be passed to the TU,
				// and then the client transaction SHOULD move to the
				// 'Proceeding' state."
				if tx.state == StateTrying {
					tx.setState(StateProceeding)
				}
				tx.deliver(ev.res)
			default:
				// "If a final response (status codes 200-699) is received
				// while in the 'Trying' state, the response MUST be passed
				// to the TU, and the client transaction MUST transition to
				// the 'Completed' state." (Likewise in Proceeding.)
				// "Once the client transaction enters the 'Completed'
				// state, it MUST set Timer K to fire in T4 seconds for
				// unreliable transports, and zero seconds for reliable
				// transports."
				tx.disarm(TimerE)
				tx.disarm(TimerF)
				tx.setState(StateCompleted)
				tx.deliver(ev.res)
				tx.arm(TimerK, t.K(tx.reliable))
				// Completed needs only the key: let the request go
				// (see Request).
				tx.req = nil
			}
		case timerFired:
			switch ev.t {
			case TimerE:
				if tx.retransmit(ctx, TimerE) {
					if tx.state == StateTrying {
						// "If timer E fires while still in this state, the
						// timer is reset, but this time with a value of
						// MIN(2*T1, T2)."
						m.e = min(2*m.e, t.T2)
					} else {
						// "If Timer E fires while in the 'Proceeding'
						// state, the request MUST be passed to the
						// transport layer for retransmission, and Timer E
						// MUST be reset with a value of T2 seconds."
						m.e = t.T2
					}
					tx.arm(TimerE, m.e)
				}
			case TimerF:
				// "If Timer F fires while the client transaction is still
				// in the 'Trying' state, the client transaction SHOULD
				// inform the TU about the timeout"; "If timer F fires
				// while in the 'Proceeding' state, the TU MUST be informed
				// of a timeout". RFC 4320 §4.2: no 408 is sent.
				tx.terminate(&Error{Kind: ErrTimeout, Key: tx.key, Timer: TimerF})
			}
		}
	case StateCompleted:
		switch ev := ev.(type) {
		case recvResponse:
			// "The 'Completed' state exists to buffer any additional
			// response retransmissions that may be received".
			tx.traceMsg(EventAbsorb, TimerNone, ev.res, nil)
		case timerFired:
			if ev.t == TimerK {
				// "If Timer K fires while in this state, the client
				// transaction MUST transition to the 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateTerminated:
		return result{stale: true}
	default:
		panic(fmt.Sprintf("transaction: client non-INVITE in impossible state %v", tx.state))
	}
	return result{}
}
