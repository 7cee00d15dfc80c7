package transaction

import (
	"context"
	"sync"
	"time"

	"github.com/parleysip/parley/sip"
)

// event is an input to a state machine: a message from the network, a
// request or response from the TU, or a timer. Machines switch on their
// state, then on the event's type.
type event interface{ isEvent() }

type (
	// tuRequest is "Request from TU": the client transaction sends its
	// request for the first time (Figures 5 and 6, the entry arrow).
	tuRequest struct{}
	// recvResponse is a response from the network matched to a client
	// transaction (§17.1.3).
	recvResponse struct{ res *sip.Response }
	// recvRequest is a retransmission of the request, matched to a server
	// transaction (§17.2.3).
	recvRequest struct{ req *sip.Request }
	// recvAck is an ACK matched to an INVITE server transaction.
	recvAck struct{ req *sip.Request }
	// tuRespond is a response passed by the TU to a server transaction.
	tuRespond struct{ res *sip.Response }
	// timerFired is a transaction timer that expired.
	timerFired struct{ t Timer }
)

func (tuRequest) isEvent()    {}
func (recvResponse) isEvent() {}
func (recvRequest) isEvent()  {}
func (recvAck) isEvent()      {}
func (tuRespond) isEvent()    {}
func (timerFired) isEvent()   {}

// result is what handling an event tells its caller.
type result struct {
	// err is returned to the TU (Request, Respond).
	err error
	// up: pass the message to the TU (RFC 6026: an ACK in the Accepted
	// state).
	up bool
	// stale: the transaction had already terminated; the message is
	// treated as matching no transaction.
	stale bool
}

// machine is one of the four state machines. handle and finish are called
// with the transaction's mutex held.
type machine interface {
	handle(ctx context.Context, ev event) result
	// finish releases what the machine holds once it has entered
	// Terminated: it leaves the Layer's tables and closes channels.
	finish()
}

// deadline is one pending timer: it fires when the Layer's clock reaches at.
type deadline struct {
	t      Timer
	queued bool          // pushed onto the Layer's clock (at > 0)
	at     time.Duration // since Layer.epoch; <0 means "due now"
}

// maxDeadlines is the most timers any machine has pending at once (A and
// B in Calling; E and F in Trying; G and H in Completed), plus one spare.
const maxDeadlines = 3

// core is what every transaction has, whatever its machine: its identity,
// its state, and its pending deadlines, each of which is also queued on
// the Layer's clock (see clock).
//
// Everything below mu is owned by mu: a transaction has exactly one owner
// at a time, whoever holds mu — a goroutine delivering a message from the
// transport, the TU responding, or the Layer's clock.
type core struct {
	l    *Layer
	key  Key
	kind Machine
	m    machine

	mu       sync.Mutex
	state    State
	reliable bool
	slot     uint32 // on the Layer's clock; 0 until the first timer is armed
	dl       [maxDeadlines]deadline
	err      error
	done     chan struct{} // made by the first doneChan, or closedChan
}

func (c *core) init(l *Layer, key Key, kind Machine, m machine) {
	c.l, c.key, c.kind, c.m = l, key, kind, m
}

// closedChan is the Done channel of a transaction that terminated before
// anyone asked for it.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// doneChan returns the channel closed when the transaction terminates,
// making it on first use: most transactions are never waited for.
func (c *core) doneChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.state == StateTerminated {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

// now is the Layer's monotonic clock.
func (c *core) now() time.Duration { return c.l.clk.now() }

// arm sets timer t to fire d from now, replacing any pending t. A zero or
// negative d fires as soon as the current event has been handled: Timers
// D, I, J and K are zero on reliable transports.
func (c *core) arm(t Timer, d time.Duration) {
	k := -1
	for i := range c.dl {
		if c.dl[i].t == t {
			k = i
			break
		}
		if c.dl[i].t == TimerNone && k < 0 {
			k = i
		}
	}
	if k < 0 {
		panic("transaction: too many pending timers in " + c.kind.String() + " " + c.state.String())
	}
	if d <= 0 || c.state == StateTerminated {
		if c.dl[k].queued {
			c.l.clk.unmirror(c, k)
		}
		c.dl[k] = deadline{t: t, at: -1}
		return
	}
	c.dl[k] = deadline{t: t, queued: true, at: c.l.clk.push(c, k, d)}
}

// disarm cancels timer t if it is pending.
func (c *core) disarm(t Timer) {
	for i := range c.dl {
		if c.dl[i].t == t {
			if c.dl[i].queued {
				c.l.clk.unmirror(c, i)
			}
			c.dl[i] = deadline{}
		}
	}
}

// pending returns the deadline of timer t, if it is pending.
func (c *core) pending(t Timer) (time.Duration, bool) {
	for i := range c.dl {
		if c.dl[i].t == t {
			return c.dl[i].at, true
		}
	}
	return 0, false
}

// earliest returns the index of the earliest pending deadline, or -1.
func (c *core) earliest() int {
	k := -1
	for i := range c.dl {
		if c.dl[i].t != TimerNone && (k < 0 || c.dl[i].at < c.dl[k].at) {
			k = i
		}
	}
	return k
}

// dispatch hands ev to the machine, then fires the zero-length timers it
// armed (Timers D, I, J and K on reliable transports). The caller holds
// mu.
//
// Other deadlines are left to the Layer's clock, which runs them when
// they fall due, even one that passed while ev was on its way: a timer
// and a message arriving together may be handled in either order.
func (c *core) dispatch(ctx context.Context, ev event) result {
	r := c.m.handle(ctx, ev)
	c.runDue(ctx, dueNow)
	return r
}

// dueNow is the "now" of runDue that fires only zero-length timers.
const dueNow = time.Duration(-1)

// runDue fires, earliest first, every deadline due at now: those that
// passed, and those armed with a zero length (at < 0). The loop is
// bounded: a machine re-arms at most one zero-length timer per event; a
// deadline still due after it is left to the clock.
func (c *core) runDue(ctx context.Context, now time.Duration) {
	for range 4 * maxDeadlines {
		if c.state == StateTerminated {
			return
		}
		k := c.earliest()
		if k < 0 || c.dl[k].at > now {
			return
		}
		t := c.dl[k].t
		// Its clock entry, if any, is spent or about to be: a later
		// firing of it finds nothing due.
		c.dl[k] = deadline{}
		c.trace(EventTimer, c.state, c.state, t, nil, nil)
		c.m.handle(ctx, timerFired{t})
	}
	for i := range c.dl {
		if c.state != StateTerminated && c.dl[i].t != TimerNone && c.dl[i].at < 0 {
			c.dl[i].at = c.l.clk.push(c, i, 0)
			c.dl[i].queued = true
		}
	}
}

// onTimer runs c for the Layer's clock, which read the time now. A
// transaction that has terminated, or that finds nothing due (its
// deadline was disarmed as the clock took it), does nothing.
func (c *core) onTimer(now time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runDue(c.l.ctx, now)
}

// setState moves the machine to state to.
func (c *core) setState(to State) {
	from := c.state
	c.state = to
	c.trace(EventState, from, to, TimerNone, nil, nil)
}

// terminate moves the machine to Terminated with err (nil for a normal
// end) and destroys it: "Once the transaction is in the 'Terminated'
// state, it MUST be destroyed immediately" (§17.1.1.2, §17.2.1, RFC 6026
// §8.7).
func (c *core) terminate(err error) {
	if c.state == StateTerminated {
		return
	}
	c.err = err
	c.dl = [maxDeadlines]deadline{}
	if c.slot != 0 {
		c.l.clk.release(c)
	}
	from := c.state
	c.state = StateTerminated
	c.trace(EventState, from, StateTerminated, TimerNone, nil, err)
	if c.done != nil {
		close(c.done)
	} else {
		c.done = closedChan
	}
	c.m.finish()
}

// trace reports an event to the Layer's Tracer; it costs a nil check when
// there is none.
func (c *core) trace(kind EventKind, from, to State, t Timer, msg sip.Message, err error) {
	if tr := c.l.tracer; tr != nil {
		tr(Event{Time: time.Now(), Kind: kind, Key: c.key, Machine: c.kind, From: from, To: to, Timer: t, Message: msg, Err: err})
	}
}

// traceMsg reports a retransmission, absorption, drop or error about msg.
func (c *core) traceMsg(kind EventKind, t Timer, msg sip.Message, err error) {
	if c.l.tracer != nil {
		c.trace(kind, c.state, c.state, t, msg, err)
	}
}

// transportError wraps a transport failure for the TU.
func (c *core) transportError(cause error) *Error {
	return &Error{Kind: ErrTransport, Key: c.key, Cause: cause}
}

// currentState returns the machine's current state.
func (c *core) currentState() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// termErr returns the error the transaction terminated with.
func (c *core) termErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
