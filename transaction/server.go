package transaction

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// ServerTx is a server transaction (RFC 3261 §17.2): it passes a request
// to the TU once, absorbs its retransmissions, and sends the TU's
// responses, retransmitting them as the RFC requires. It runs the INVITE
// machine of §17.2.1 (Figure 7 as replaced by RFC 6026) or the non-INVITE
// machine of §17.2.2 (Figure 8). The Layer creates one for each new
// request and gives it to [Config.OnRequest] (or [Config.OnCancel]).
//
// The TU must answer every request it is given with a final response:
// until it does, an INVITE or non-INVITE server transaction has no timer
// that ends it.
//
// Its methods are safe for concurrent use.
type ServerTx struct {
	core
	// req is the request; a non-INVITE transaction over an unreliable
	// transport lets it go on entering Completed (see Request).
	req    atomic.Pointer[sip.Request]
	flow   transport.Flow
	merged bool

	// Owned by Layer.mu.
	inserted   bool      // in the Layer's tables
	mergeOwner bool      // the Layer's merge index points here
	next, prev *ServerTx // neighbours in the chain of the same match key
	lg         *legacyTx // nil for RFC 3261 requests
	mk         mergeKey  // the §8.2.2.2 key, when mergeOwner
	// The hashes of the srvKey (RFC 3261 requests) and of mk (when
	// mergeOwner), kept so that leaving the tables, 64·T1 later, reads
	// no key strings from the request's long-cold bytes.
	sh, mh uint64

	// Owned by core.mu.
	last  *sip.Response // the last response passed to the transport
	onEnd func()        // run by finish: AfterTerminate's functions, in order
	sm    serverMachine // seen as a serverInvite or a serverNonInvite
}

func newServerTx(l *Layer, req *sip.Request, flow transport.Flow, m *match) *ServerTx {
	tx := &ServerTx{flow: flow}
	tx.req.Store(req)
	if !m.rfc3261 {
		tx.lg = &legacyTx{key: m.lk, toTag: m.toTag}
	}
	if flow.IsZero() {
		if v := req.TopVia(); v != nil {
			n, _ := transport.ParseNetwork(v.Transport)
			tx.reliable = n.Reliable()
		}
	} else {
		tx.reliable = flow.Reliable()
	}
	key := m.key()
	if req.Method == sip.INVITE {
		tx.sm.tx = tx
		tx.core.init(l, key, ServerInvite, (*serverInvite)(&tx.sm))
		// §17.2.1: "When a server transaction is constructed for a
		// request, it enters the 'Proceeding' state. The server
		// transaction MUST generate a 100 (Trying) response unless it
		// knows that the TU will generate a provisional or final response
		// within 200 ms".
		tx.state = StateProceeding
	} else {
		tx.sm.tx = tx
		tx.core.init(l, key, ServerNonInvite, (*serverNonInvite)(&tx.sm))
		// §17.2.2: "The state machine is initialized in the 'Trying'
		// state". RFC 4320 §4.1: 100 Trying once Timer E would have
		// reached T2, if the TU has not responded by then.
		tx.state = StateTrying
	}
	return tx
}

// armTrying starts the timer of the 100 Trying the transaction sends
// itself (see newServerTx), once the Layer has taken it in. Caller holds
// mu.
func (tx *ServerTx) armTrying() {
	if tx.key.Method == sip.INVITE {
		tx.arm(TimerTrying, trying100)
	} else {
		tx.arm(TimerTrying, tx.l.timers.NonInvite100())
	}
}

// Key returns the transaction's key.
func (tx *ServerTx) Key() Key { return tx.key }

// State returns the machine's current state.
func (tx *ServerTx) State() State { return tx.currentState() }

// Done returns a channel that is closed when the transaction terminates.
func (tx *ServerTx) Done() <-chan struct{} { return tx.doneChan() }

// AfterTerminate arranges for f to be called once the transaction has
// terminated: at once, on the calling goroutine, if it already has;
// otherwise on the goroutine that terminates it (a timer, Close, or one
// delivering a message), with the transaction's lock held. f must
// therefore return quickly and must not call methods of the transaction
// or of its Layer; cancelling a context is the intended use (the stack
// package ends a handler's context this way, without a goroutine waiting
// on [ServerTx.Done]). Each call adds one more f.
func (tx *ServerTx) AfterTerminate(f func()) {
	tx.mu.Lock()
	if tx.state != StateTerminated {
		if prev := tx.onEnd; prev != nil {
			// More than one: rare, so chained rather than kept in a
			// slice (8 bytes per transaction instead of 24).
			tx.onEnd = func() { prev(); f() }
		} else {
			tx.onEnd = f
		}
		tx.mu.Unlock()
		return
	}
	tx.mu.Unlock()
	f()
}

// Err returns nil while the transaction runs and after a normal end, or
// the [*Error] it terminated with: ErrTimeout when Timer H fired because
// no ACK came for a non-2xx final response (§17.2.1: the transaction "MUST
// indicate to the TU that a transaction failure has occurred"), or
// ErrClosed.
func (tx *ServerTx) Err() error { return tx.termErr() }

// Request returns the request that created the transaction. It is shared:
// treat it as read-only.
//
// A non-INVITE server transaction on an unreliable transport (UDP) lets
// the request go once it has sent its final response: in the Completed
// state it needs only its key and that response to answer retransmissions
// (§17.2.2), and Timer J keeps it for 64*T1. Request then returns nil.
// A TU that needs the request after answering keeps its own reference
// (the one passed to [Config.OnRequest]); INVITE transactions, and all
// transactions on reliable transports, keep it until they terminate.
func (tx *ServerTx) Request() *sip.Request { return tx.req.Load() }

// srvKey returns the key of an RFC 3261 transaction in the Layer's table.
func (tx *ServerTx) srvKey() srvKey {
	return srvKey{branch: tx.key.Branch, host: tx.key.Host, port: tx.key.Port}
}

// Flow returns the flow the request arrived on; responses go back on it
// (§18.2.2).
func (tx *ServerTx) Flow() transport.Flow { return tx.flow }

// Merged reports whether the request looked merged when it arrived (§8.2.2.2):
// it had no To tag, and its From tag, Call-ID and CSeq equal those of a
// running server transaction that it does not match. A UAS "SHOULD"
// answer it 482 (Loop Detected); a proxy ignores this.
func (tx *ServerTx) Merged() bool { return tx.merged }

// Response returns the last response the transaction passed to the
// transport (including a 100 Trying it sent itself), or nil.
//
// A non-INVITE transaction over a [ResponseKeeper] transport on UDP keeps
// only the bytes of its final response in Completed: Response then parses
// them again, giving a new value each call. Use [ServerTx.Responded] to
// know whether a final response was sent.
func (tx *ServerTx) Response() *sip.Response {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.lastResponse()
}

// lastResponse is Response with mu held.
func (tx *ServerTx) lastResponse() *sip.Response {
	if tx.last == nil && tx.sm.wire != nil {
		if m, err := sip.Parse(tx.sm.wire); err == nil {
			if res, ok := m.(*sip.Response); ok {
				return res
			}
		}
	}
	return tx.last
}

// Responded reports whether the TU's final response has been passed to
// the transport (whether or not the transport managed to send it).
func (tx *ServerTx) Responded() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.sm.wire != nil || (tx.last != nil && tx.last.StatusCode.Final())
}

// Respond passes res to the transaction for transmission on the request's
// flow; ctx bounds that send. The transaction keeps res for
// retransmissions: do not change it afterwards.
//
// What is accepted depends on the state (Figures 7 and 8): provisional
// responses until a final one; one final response; then, for an INVITE
// answered 2xx, more 2xx (the TU's retransmissions, RFC 6026 §8.5). Other
// responses are refused with [ErrFinalSent] and not sent; a response to a
// terminated transaction gets [ErrTerminated]. For a non-INVITE request
// only 100 is allowed as provisional, and on an unreliable flow only after
// [Timers.NonInvite100] (RFC 4320 §4.1): others get [ErrBadResponse].
//
// If the transport fails, Respond returns an [*Error] with Kind
// [ErrTransport] and the transaction stays in its state (RFC 6026 §8.8:
// it "MUST remain in the current state"), so that its timers still end it
// and request retransmissions are still absorbed.
func (tx *ServerTx) Respond(ctx context.Context, res *sip.Response) error {
	if res == nil || res.StatusCode < 100 || res.StatusCode > 699 {
		return ErrBadResponse
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	r := tx.dispatch(ctx, tuRespond{res})
	if r.stale {
		return &Error{Kind: ErrTerminated, Key: tx.key}
	}
	return r.err
}

// send passes res to the transport and remembers it as the last response.
// A failure is reported to the Tracer and returned, and changes no state
// (RFC 6026 §8.8).
func (tx *ServerTx) send(ctx context.Context, res *sip.Response, t Timer, retransmit bool) error {
	if retransmit {
		tx.traceMsg(EventRetransmit, t, res, nil)
	} else if tx.last != res {
		tx.last = res
		if tx.lg != nil && res.StatusCode != sip.StatusTrying {
			if to := res.To(); to != nil {
				tx.l.setRespToTag(tx, to.Tag())
			}
		}
	}
	if err := tx.l.t.SendResponse(ctx, res, tx.flow); err != nil {
		tx.traceMsg(EventError, t, res, err)
		return tx.transportError(err)
	}
	return nil
}

// trying builds the 100 Trying the transaction sends itself: §17.2.1, "The
// 100 (Trying) response is constructed according to the procedures in
// Section 8.2.6, except that the insertion of tags in the To header field
// of the response (when none was present in the request) is downgraded
// from MAY to SHOULD NOT." sip.NewResponse adds no tag to a 100.
func (tx *ServerTx) trying() *sip.Response { return sip.NewResponse(tx.req.Load(), sip.StatusTrying) }

// finish removes the transaction from its Layer.
// finish removes the transaction from its Layer, then runs what
// AfterTerminate was given.
func (tx *ServerTx) finish() {
	tx.l.removeServer(tx)
	if f := tx.onEnd; f != nil {
		tx.onEnd = nil
		f()
	}
}

// absorb reports a retransmitted request (or ACK) the transaction keeps
// from the TU.
func (tx *ServerTx) absorb(req *sip.Request) { tx.traceMsg(EventAbsorb, TimerNone, req, nil) }

// serverMachine holds the state of either server machine, which a
// ServerTx has one of: serverInvite and serverNonInvite are its two views
// (types with its fields and each machine's methods), so that a ServerTx
// holds the fields of both machines in the space of one.
type serverMachine struct {
	tx *ServerTx
	// INVITE.
	provisional *sip.Response // most recent provisional sent
	final       *sip.Response // the final response (the last 2xx in Accepted)
	g           time.Duration // current Timer G interval
	// Non-INVITE. In Completed over a ResponseKeeper transport: the final
	// response as sent, on tx.flow (the usual case: back to the request's
	// source, from the socket it came to); tx.last is then nil.
	wire []byte
}

// serverInvite is the INVITE server transaction of RFC 3261 §17.2.1,
// Figure 7, as replaced by RFC 6026 §8.6 (the Accepted state, Timer L, and
// no termination on transport errors).
//
//	Proceeding --INVITE / resend last provisional---> Proceeding
//	Proceeding --Timer Trying (200 ms) / send 100---> Proceeding
//	Proceeding --1xx from TU / send-----------------> Proceeding
//	Proceeding --2xx from TU / send, start L--------> Accepted
//	Proceeding --300-699 from TU / send, G, H-------> Completed
//	Completed  --INVITE / resend final--------------> Completed
//	Completed  --Timer G / resend, G=min(2G,T2)-----> Completed   (unreliable only)
//	Completed  --ACK / start I----------------------> Confirmed
//	Completed  --Timer H / TU-----------------------> Terminated
//	Confirmed  --ACK, INVITE / absorb---------------> Confirmed
//	Confirmed  --Timer I----------------------------> Terminated
//	Accepted   --INVITE / absorb--------------------> Accepted
//	Accepted   --ACK / to TU------------------------> Accepted
//	Accepted   --2xx from TU / send-----------------> Accepted
//	Accepted   --Timer L----------------------------> Terminated
//	any        --transport error / TU---------------> same state
//
// It is the INVITE view of a serverMachine.
type serverInvite serverMachine

func (m *serverInvite) finish() { m.tx.finish() }

func (m *serverInvite) handle(ctx context.Context, ev event) result {
	tx := m.tx
	t := tx.l.timers
	switch tx.state {
	case StateProceeding:
		switch ev := ev.(type) {
		case recvRequest:
			// §17.2.1: "If a request retransmission is received while in
			// the 'Proceeding' state, the most recent provisional response
			// that was received from the TU MUST be passed to the
			// transport layer for retransmission."
			tx.absorb(ev.req)
			if m.provisional != nil {
				_ = tx.send(ctx, m.provisional, TimerNone, true)
			}
		case recvAck:
			tx.absorb(ev.req) // no edge in Figure 7
		case tuRespond:
			return m.respond(ctx, ev.res)
		case timerFired:
			if ev.t == TimerTrying && m.provisional == nil {
				m.provisional = tx.trying()
				_ = tx.send(ctx, m.provisional, TimerTrying, false)
			}
		}
	case StateCompleted:
		switch ev := ev.(type) {
		case recvRequest:
			// "while in the 'Completed' state, if a request
			// retransmission is received, the server SHOULD pass the
			// response to the transport for retransmission."
			tx.absorb(ev.req)
			_ = tx.send(ctx, m.final, TimerNone, true)
		case recvAck:
			// "If an ACK is received while the server transaction is in
			// the 'Completed' state, the server transaction MUST
			// transition to the 'Confirmed' state. As Timer G is ignored
			// in this state, any retransmissions of the response will
			// cease." "When this state is entered, timer I is set to fire
			// in T4 seconds for unreliable transports, and zero seconds
			// for reliable transports."
			tx.disarm(TimerG)
			tx.disarm(TimerH)
			tx.setState(StateConfirmed)
			tx.arm(TimerI, t.I(tx.reliable))
		case tuRespond:
			return result{err: ErrFinalSent}
		case timerFired:
			switch ev.t {
			case TimerG:
				// "If timer G fires, the response is passed to the
				// transport layer once more for retransmission, and timer
				// G is set to fire in MIN(2*T1, T2) seconds. From then
				// on, when timer G fires, the response is passed to the
				// transport again for transmission, and timer G is reset
				// with a value that doubles, unless that value exceeds
				// T2, in which case it is reset with the value of T2."
				_ = tx.send(ctx, m.final, TimerG, true)
				m.g = min(2*m.g, t.T2)
				tx.arm(TimerG, m.g)
			case TimerH:
				// "If timer H fires while in the 'Completed' state, it
				// implies that the ACK was never received. In this case,
				// the server transaction MUST transition to the
				// 'Terminated' state, and MUST indicate to the TU that a
				// transaction failure has occurred."
				tx.terminate(&Error{Kind: ErrTimeout, Key: tx.key, Timer: TimerH})
			}
		}
	case StateConfirmed:
		switch ev := ev.(type) {
		case recvRequest:
			tx.absorb(ev.req)
		case recvAck:
			// "The purpose of the 'Confirmed' state is to absorb any
			// additional ACK messages that arrive".
			tx.absorb(ev.req)
		case tuRespond:
			return result{err: ErrFinalSent}
		case timerFired:
			if ev.t == TimerI {
				// "Once timer I fires, the server MUST transition to the
				// 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateAccepted:
		switch ev := ev.(type) {
		case recvRequest:
			// RFC 6026 §7.1: "While in the 'Accepted' state, any
			// retransmissions of the INVITE received will match this
			// transaction state machine and will be absorbed by the
			// machine without changing its state. These retransmissions
			// are not passed onto the TU."
			tx.absorb(ev.req)
		case recvAck:
			// "Any ACKs received from the network while in the 'Accepted'
			// state MUST be passed directly to the TU and not absorbed."
			return result{up: true}
		case tuRespond:
			if !ev.res.StatusCode.Success() {
				return result{err: ErrFinalSent}
			}
			// "Any retransmission of the 2xx response passed from the TU
			// to the transaction while in the 'Accepted' state MUST be
			// passed to the transport layer for transmission."
			m.final = ev.res
			return result{err: tx.send(ctx, ev.res, TimerNone, false)}
		case timerFired:
			if ev.t == TimerL {
				// "If Timer L fires while the INVITE server transaction is
				// in the 'Accepted' state, the transaction MUST transition
				// to the 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateTerminated:
		return result{stale: true}
	default:
		panic(fmt.Sprintf("transaction: server INVITE in impossible state %v", tx.state))
	}
	return result{}
}

// respond handles a response from the TU in Proceeding.
func (m *serverInvite) respond(ctx context.Context, res *sip.Response) result {
	tx := m.tx
	t := tx.l.timers
	tx.disarm(TimerTrying)
	code := res.StatusCode
	switch {
	case code.Provisional():
		// §17.2.1: "The TU passes any number of provisional responses to
		// the server transaction. So long as the server transaction is in
		// the 'Proceeding' state, each of these MUST be passed to the
		// transport layer for transmission."
		m.provisional = res
		return result{err: tx.send(ctx, res, TimerNone, false)}
	case code.Success():
		// RFC 6026 §8.5: "If, while in the 'Proceeding' state, the TU
		// passes a 2xx response to the server transaction, the server
		// transaction MUST pass this response to the transport layer for
		// transmission. It is not retransmitted by the server
		// transaction ... The server transaction MUST then transition to
		// the 'Accepted' state." §8.7: "When the INVITE server
		// transaction enters the 'Accepted' state, Timer L MUST be set to
		// fire in 64*T1 for all transports."
		m.final = res
		err := tx.send(ctx, res, TimerNone, false)
		tx.setState(StateAccepted)
		tx.arm(TimerL, t.L())
		return result{err: err}
	default:
		// "While in the 'Proceeding' state, if the TU passes a response
		// with status code from 300 to 699 to the server transaction, the
		// response MUST be passed to the transport layer for
		// transmission, and the state machine MUST enter the 'Completed'
		// state. For unreliable transports, timer G is set to fire in T1
		// seconds, and is not set to fire for reliable transports." "When
		// the 'Completed' state is entered, timer H MUST be set to fire in
		// 64*T1 seconds for all transports."
		m.final = res
		err := tx.send(ctx, res, TimerNone, false)
		tx.setState(StateCompleted)
		if !tx.reliable {
			m.g = t.G()
			tx.arm(TimerG, m.g)
		}
		tx.arm(TimerH, t.H())
		return result{err: err}
	}
}

// serverNonInvite is the non-INVITE server transaction of RFC 3261
// §17.2.2, Figure 8, with RFC 4320 §4.1 (100 Trying only, and only once
// Timer E would have reached T2) and RFC 6026 §8.8 (no termination on
// transport errors).
//
//	Trying     --request / absorb-----------------------> Trying
//	Trying     --Timer Trying (RFC 4320) / send 100-----> Proceeding
//	Trying,
//	Proceeding --100 from TU / send---------------------> Proceeding
//	Trying,
//	Proceeding --200-699 from TU / send, start J--------> Completed
//	Proceeding --request / resend last provisional------> Proceeding
//	Completed  --request / resend final-----------------> Completed
//	Completed  --Timer J--------------------------------> Terminated
//	any        --transport error / TU-------------------> same state
//
// It is the non-INVITE view of a serverMachine.
type serverNonInvite serverMachine

func (m *serverNonInvite) finish() { m.tx.finish() }

func (m *serverNonInvite) handle(ctx context.Context, ev event) result {
	tx := m.tx
	switch tx.state {
	case StateTrying:
		switch ev := ev.(type) {
		case recvRequest:
			// §17.2.2: "Once in the 'Trying' state, any further request
			// retransmissions are discarded."
			tx.absorb(ev.req)
		case tuRespond:
			return m.respond(ctx, ev.res)
		case timerFired:
			if ev.t == TimerTrying {
				// RFC 4320 §4.1: "Without regard to transport, an SIP
				// element MUST respond to a non-INVITE request with a
				// Status-Code of 100 if it has not otherwise responded
				// after the amount of time it takes a client
				// transaction's Timer E to be reset to T2."
				_ = tx.send(ctx, tx.trying(), TimerTrying, false)
				tx.setState(StateProceeding)
			}
		}
	case StateProceeding:
		switch ev := ev.(type) {
		case recvRequest:
			// "If a retransmission of the request is received while in
			// the 'Proceeding' state, the most recently sent provisional
			// response MUST be passed to the transport layer for
			// retransmission."
			tx.absorb(ev.req)
			_ = tx.send(ctx, tx.last, TimerNone, true)
		case tuRespond:
			return m.respond(ctx, ev.res)
		}
	case StateCompleted:
		switch ev := ev.(type) {
		case recvRequest:
			// "While in the 'Completed' state, the server transaction
			// MUST pass the final response to the transport layer for
			// retransmission whenever a retransmission of the request is
			// received."
			tx.absorb(ev.req)
			m.resend(ctx)
		case tuRespond:
			// "Any other final responses passed by the TU to the server
			// transaction MUST be discarded while in the 'Completed'
			// state."
			return result{err: ErrFinalSent}
		case timerFired:
			if ev.t == TimerJ {
				// "The server transaction remains in this state until
				// Timer J fires, at which point it MUST transition to the
				// 'Terminated' state."
				tx.terminate(nil)
			}
		}
	case StateTerminated:
		return result{stale: true}
	default:
		panic(fmt.Sprintf("transaction: server non-INVITE in impossible state %v", tx.state))
	}
	return result{}
}

// respond handles a response from the TU in Trying or Proceeding.
func (m *serverNonInvite) respond(ctx context.Context, res *sip.Response) result {
	tx := m.tx
	code := res.StatusCode
	if code.Provisional() {
		// RFC 4320 §4.1: "An SIP element MUST NOT send any provisional
		// response with a Status-Code other than 100 to a non-INVITE
		// request." and "MUST NOT respond to a non-INVITE request with a
		// Status-Code of 100 over any unreliable transport, such as UDP,
		// before the amount of time it takes a client transaction's Timer
		// E to be reset to T2."
		if code != sip.StatusTrying {
			return result{err: fmt.Errorf("%w: %d to a non-INVITE request (RFC 4320 §4.1)", ErrBadResponse, code)}
		}
		// The Trying timer, armed for that time when the transaction
		// was made, tells: while it is pending, the time has not come.
		if at, ok := tx.pending(TimerTrying); !tx.reliable && ok && at > tx.now() {
			return result{err: fmt.Errorf("%w: 100 on an unreliable flow before Timer E reaches T2 (RFC 4320 §4.1)", ErrBadResponse)}
		}
		// §17.2.2: "While in the 'Trying' state, if the TU passes a
		// provisional response to the server transaction, the server
		// transaction MUST enter the 'Proceeding' state. The response
		// MUST be passed to the transport layer for transmission."
		tx.disarm(TimerTrying)
		err := tx.send(ctx, res, TimerNone, false)
		if tx.state == StateTrying {
			tx.setState(StateProceeding)
		}
		return result{err: err}
	}
	// "If the TU passes a final response (status codes 200-699) to the
	// server while in the 'Proceeding' state, the transaction MUST enter
	// the 'Completed' state, and the response MUST be passed to the
	// transport layer for transmission." "When the server transaction
	// enters the 'Completed' state, it MUST set Timer J to fire in 64*T1
	// seconds for unreliable transports, and zero seconds for reliable
	// transports."
	tx.disarm(TimerTrying)
	var err error
	if k, ok := tx.l.t.(ResponseKeeper); ok && !tx.reliable {
		err = m.sendKeep(ctx, k, res)
	} else {
		err = tx.send(ctx, res, TimerNone, false)
	}
	tx.setState(StateCompleted)
	tx.arm(TimerJ, tx.l.timers.J(tx.reliable))
	if !tx.reliable {
		// Completed lasts 64*T1 and needs only the key and the final
		// response: let the request go (see Request).
		tx.req.Store(nil)
	}
	return result{err: err}
}

// sendKeep is ServerTx.send for the final response over a ResponseKeeper:
// when the transport hands back the bytes it sent on the request's flow
// (to its source: rport, or a sent-by equal to it), the transaction keeps
// those instead of res; otherwise (a response sent elsewhere per §18.2.2)
// it keeps res.
func (m *serverNonInvite) sendKeep(ctx context.Context, k ResponseKeeper, res *sip.Response) error {
	tx := m.tx
	tx.last = res
	if tx.lg != nil {
		if to := res.To(); to != nil {
			tx.l.setRespToTag(tx, to.Tag())
		}
	}
	b, sent, err := k.SendResponseKeep(ctx, res, tx.flow)
	if err != nil {
		tx.traceMsg(EventError, TimerNone, res, err)
		return tx.transportError(err)
	}
	if b != nil && sent == tx.flow {
		m.wire = b
		tx.last = nil
	}
	return nil
}

// resend passes the last response to the transport again.
func (m *serverNonInvite) resend(ctx context.Context) {
	tx := m.tx
	if m.wire == nil {
		_ = tx.send(ctx, tx.last, TimerNone, true)
		return
	}
	var res *sip.Response // for the Tracer only: parsed again when there is one
	if tx.l.tracer != nil {
		res = tx.lastResponse()
		tx.traceMsg(EventRetransmit, TimerNone, res, nil)
	}
	if err := tx.l.t.(ResponseKeeper).Resend(ctx, m.wire, tx.flow); err != nil {
		tx.traceMsg(EventError, TimerNone, res, err)
	}
}

// AnswerCancel answers a CANCEL as a UAS does (RFC 3261 §9.2), for a TU
// that has nothing else to do on a CANCEL; [Config.OnCancel] defaults to
// it. cancel is the CANCEL's server transaction and target the transaction
// it matched, or nil.
//
//   - No target: "the UAS ... SHOULD respond to the CANCEL with a 481 (Call
//     Leg/Transaction Does Not Exist)".
//   - Otherwise the CANCEL is answered 200, and if target is an INVITE
//     without a final response, the INVITE is answered 487 (Request
//     Terminated): "If the original request was an INVITE, the UAS SHOULD
//     immediately respond to the INVITE with a 487". Both carry the same To
//     tag ("the To tag of the response to the CANCEL and the To tag in the
//     response to the original request SHOULD be the same"): the one of
//     the target's last response, or a new one.
//
// A final response that the TU sent meanwhile wins: the 487 is then
// refused with ErrFinalSent, which AnswerCancel does not report.
func AnswerCancel(ctx context.Context, cancel, target *ServerTx) error {
	if target == nil {
		return cancel.Respond(ctx, sip.NewResponse(cancel.Request(), sip.StatusCallTransactionDoesNotExist))
	}
	tag := ""
	if last := target.Response(); last != nil && last.To() != nil {
		tag = last.To().Tag()
	}
	if tag == "" {
		if req := target.Request(); req != nil && req.To() != nil {
			tag = req.To().Tag()
		}
	}
	if tag == "" {
		tag = sip.NewTag()
	}
	ok := sip.NewResponse(cancel.Request(), sip.StatusOK)
	ok.SetToTag(tag)
	err := cancel.Respond(ctx, ok)
	if target.key.Method == sip.INVITE && target.State() == StateProceeding {
		rt := sip.NewResponse(target.Request(), sip.StatusRequestTerminated)
		rt.SetToTag(tag)
		if err2 := target.Respond(ctx, rt); err2 != nil && !errors.Is(err2, ErrFinalSent) {
			err = errors.Join(err, err2)
		}
	}
	return err
}
