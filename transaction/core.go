package transaction

import (
	"context"
	"sync"
	"sync/atomic"
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
	t  Timer
	at time.Duration // since Layer.epoch; <0 means "due now"
}

// maxDeadlines is the most timers any machine has pending at once (A and
// B in Calling; E and F in Trying; G and H in Completed), plus one spare.
const maxDeadlines = 3

// core is what every transaction has, whatever its machine: its identity,
// its state, its pending deadlines and the single *time.Timer that is
// always set to the earliest of them (quic-go's Conn.run does the same).
//
// Everything below mu is owned by mu: a transaction has exactly one owner
// at a time, whoever holds mu — a goroutine delivering a message from the
// transport, the TU responding, or the timer's callback.
type core struct {
	l    *Layer
	key  Key
	kind Machine
	m    machine

	mu        sync.Mutex
	state     State
	reliable  bool
	dl        [maxDeadlines]deadline
	timer     *tick         // taken from the Layer on the first rearm, given back on terminate
	scheduled time.Duration // deadline the timer is set for; -1 when none
	err       error
	done      chan struct{} // made by the first doneChan, or closedChan
	onEnd     []func()      // run by terminate (ServerTx.AfterTerminate)
}

func (c *core) init(l *Layer, key Key, kind Machine, m machine) {
	c.l, c.key, c.kind, c.m = l, key, kind, m
	c.scheduled = -1
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

// tick is a *time.Timer that a Layer reuses from one transaction to the
// next, so that a transaction costs no timer allocation. The callback runs
// the onTimer of whichever transaction owns the tick when it fires. A
// callback that was already starting when its transaction terminated may
// thus reach the next owner: onTimer treats that as an early firing (finds
// nothing due and re-arms), so the timer's single-owner rule is kept.
type tick struct {
	t     *time.Timer
	owner atomic.Pointer[core]
}

func (k *tick) fire() {
	if c := k.owner.Load(); c != nil {
		c.onTimer()
	}
}

// getTick returns a tick owned by c, set to fire in d: a reused one, or
// a new one from the Layer's current slab (ticks are allocated tickSlab at
// a time, so a new tick costs its *time.Timer and callback only).
func (l *Layer) getTick(c *core, d time.Duration) *tick {
	l.tickMu.Lock()
	var k *tick
	if n := len(l.freeTicks); n > 0 {
		k = l.freeTicks[n-1]
		l.freeTicks[n-1] = nil
		l.freeTicks = l.freeTicks[:n-1]
	} else {
		if len(l.slab) == 0 {
			l.slab = make([]tick, tickSlab)
		}
		k = &l.slab[0]
		l.slab = l.slab[1:]
	}
	l.tickMu.Unlock()
	k.owner.Store(c)
	if k.t == nil {
		k.t = time.AfterFunc(d, k.fire)
	} else {
		k.t.Reset(d)
	}
	return k
}

// Ticks are allocated tickSlab at a time; at most maxFreeTicks stopped ones
// are kept for reuse (ending transactions give back as many as starting
// ones take, so a small list suffices at any rate; after a burst the
// Layer's memory comes back to its former size).
const (
	tickSlab     = 64
	maxFreeTicks = 1024
)

// putTick gives back the stopped tick of a terminated transaction.
func (l *Layer) putTick(k *tick) {
	k.owner.Store(nil)
	l.tickMu.Lock()
	if len(l.freeTicks) < maxFreeTicks {
		l.freeTicks = append(l.freeTicks, k)
		k = nil
	}
	l.tickMu.Unlock()
	if k != nil {
		// Dropped: let its timer go, even if a tick of the same slab is
		// kept (the slab holds only the small tick structs).
		k.t = nil
	}
}

// now is the Layer's monotonic clock.
func (c *core) now() time.Duration { return time.Since(c.l.epoch) }

// arm sets timer t to fire d from now, replacing any pending t. A zero or
// negative d fires as soon as the current event has been handled: Timers
// D, I, J and K are zero on reliable transports.
func (c *core) arm(t Timer, d time.Duration) {
	at := time.Duration(-1)
	if d > 0 {
		at = c.now() + d
	}
	free := -1
	for i := range c.dl {
		if c.dl[i].t == t {
			c.dl[i].at = at
			return
		}
		if c.dl[i].t == TimerNone && free < 0 {
			free = i
		}
	}
	if free < 0 {
		panic("transaction: too many pending timers in " + c.kind.String() + " " + c.state.String())
	}
	c.dl[free] = deadline{t: t, at: at}
}

// disarm cancels timer t if it is pending.
func (c *core) disarm(t Timer) {
	for i := range c.dl {
		if c.dl[i].t == t {
			c.dl[i] = deadline{}
		}
	}
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

// dispatch hands ev to the machine, then fires whatever timers are due and
// sets the *time.Timer to the next deadline. The caller holds mu.
func (c *core) dispatch(ctx context.Context, ev event) result {
	r := c.m.handle(ctx, ev)
	c.runDue(ctx)
	c.rearm()
	return r
}

// runDue fires, earliest first, every deadline that has passed. The loop
// is bounded: a machine re-arms at most one zero-length timer per event.
func (c *core) runDue(ctx context.Context) {
	for range 4 * maxDeadlines {
		if c.state == StateTerminated {
			return
		}
		k := c.earliest()
		if k < 0 || (c.dl[k].at >= 0 && c.dl[k].at > c.now()) {
			return
		}
		t := c.dl[k].t
		c.dl[k] = deadline{}
		c.trace(EventTimer, c.state, c.state, t, nil, nil)
		c.m.handle(ctx, timerFired{t})
	}
}

// rearm sets the transaction's one timer to its earliest deadline, or
// stops it.
func (c *core) rearm() {
	k := -1
	if c.state != StateTerminated {
		k = c.earliest()
	}
	if k < 0 {
		if c.timer != nil && c.scheduled >= 0 {
			c.timer.t.Stop()
		}
		c.scheduled = -1
		return
	}
	at := max(c.dl[k].at, 0)
	if at == c.scheduled {
		return
	}
	c.scheduled = at
	d := max(at-c.now(), 0)
	if c.timer == nil {
		c.timer = c.l.getTick(c, d)
		return
	}
	c.timer.t.Reset(d)
}

// onTimer is the timer's callback. A callback that finds its transaction
// terminated — a stale timer — does nothing; one that fires early (the
// timer was reset while it was starting) finds nothing due and re-arms.
func (c *core) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateTerminated {
		return
	}
	c.scheduled = -1
	c.runDue(c.l.ctx)
	c.rearm()
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
	if c.timer != nil {
		c.timer.t.Stop()
		c.l.putTick(c.timer)
		c.timer = nil
	}
	c.scheduled = -1
	from := c.state
	c.state = StateTerminated
	c.trace(EventState, from, StateTerminated, TimerNone, nil, err)
	if c.done != nil {
		close(c.done)
	} else {
		c.done = closedChan
	}
	c.m.finish()
	for _, f := range c.onEnd {
		f()
	}
	c.onEnd = nil
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
