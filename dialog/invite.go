package dialog

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parleysip/parley/transaction"
)

// ErrNoAck is returned by [Retransmit2xx] when no ACK arrived within
// 64·T1. §13.3.1.4: "If the server retransmits the 2xx response for 64*T1
// seconds without receiving an ACK, the dialog is confirmed, but the
// session SHOULD be terminated. This is accomplished with a BYE".
var ErrNoAck = errors.New("dialog: no ACK for the 2xx within 64*T1")

// Retransmit2xx is the UAS core's 2xx retransmission of §13.3.1.4: the
// transaction layer sends a 2xx once (RFC 6026 Accepted state), and the
// core must send it again "with an interval that starts at T1 seconds and
// doubles for each retransmission until it reaches T2 seconds" until the
// ACK arrives. reliable says the 2xx went over a reliable transport, where
// the retransmissions are not sent (the ACK is still awaited for 64·T1).
//
// send re-sends the response (through ServerTx.Respond, which passes 2xx
// retransmissions to the transport in the Accepted state); acked is
// closed by the caller when the ACK is received (see Dialog.AckFor). It
// returns nil on ACK, ErrNoAck after 64·T1, or ctx's error.
func Retransmit2xx(ctx context.Context, t transaction.Timers, reliable bool, send func() error, acked <-chan struct{}) error {
	giveUp := time.NewTimer(64 * t.A())
	defer giveUp.Stop()
	t2 := t.T2
	if t2 <= 0 {
		t2 = transaction.DefaultT2
	}
	interval := t.A() // T1
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-acked:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-giveUp.C:
			return ErrNoAck
		case <-tick.C:
			if !reliable {
				if err := send(); err != nil {
					return err
				}
			}
			interval = min(2*interval, t2)
			tick.Reset(interval)
		}
	}
}

// GlareDelay returns how long a UAC waits before retrying a re-INVITE
// (or UPDATE) rejected with 491 Request Pending, §14.1: "If the UAC is the
// owner of the Call-ID of the dialog ID (meaning it generated the value),
// T has a randomly chosen value between 2.1 and 4 seconds in units of 10
// ms. If the UAC is not the owner of the Call-ID of the dialog ID, T has a
// randomly chosen value of between 0 and 2 seconds in units of 10 ms."
// rnd returns a uniform integer in [0, n); nil means math/rand/v2.
func GlareDelay(owner bool, rnd func(n int) int) time.Duration {
	if rnd == nil {
		rnd = rand.IntN
	}
	if owner {
		return time.Duration(210+rnd(191)) * 10 * time.Millisecond // 2.10 … 4.00 s
	}
	return time.Duration(rnd(201)) * 10 * time.Millisecond // 0 … 2.00 s
}

// ErrNoPrack is returned by [RetransmitReliable] when no PRACK arrived
// within 64·T1; RFC 3262 §3: "the UAS SHOULD reject the original request
// with a 5xx response".
var ErrNoPrack = errors.New("dialog: no PRACK for the reliable provisional response within 64*T1")

// RetransmitReliable is the UAS core's retransmission of a reliable
// provisional response, RFC 3262 §3: it "is passed to the transaction
// layer periodically with an interval that starts at T1 seconds and
// doubles for each retransmission" — without the T2 cap of 2xx
// retransmissions — until the PRACK arrives (pracked closed). reliable
// says the transport is reliable: nothing is re-sent, the PRACK is still
// awaited. It returns nil on PRACK, ErrNoPrack after 64·T1, or ctx's
// error.
func RetransmitReliable(ctx context.Context, t transaction.Timers, reliable bool, send func() error, pracked <-chan struct{}) error {
	giveUp := time.NewTimer(64 * t.A())
	defer giveUp.Stop()
	interval := t.A()
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-pracked:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-giveUp.C:
			return ErrNoPrack
		case <-tick.C:
			if !reliable {
				if err := send(); err != nil {
					return err
				}
			}
			interval *= 2
			tick.Reset(interval)
		}
	}
}

// ErrGlare is returned by [RetryGlare] when every attempt met a 491.
var ErrGlare = errors.New("dialog: request still pending (491) after the retries of §14.1")

// RetryGlare runs attempt — a re-INVITE or UPDATE — until it reports no
// glare (a final response other than 491 Request Pending, or an error),
// waiting GlareDelay(owner, rnd) before each new try as §14.1 says ("When
// the timer fires, the UAC SHOULD attempt the re-INVITE once more, if it
// still desires for that session modification to take place"), at most
// tries times in all. It returns attempt's error, ErrGlare after the last
// 491, or ctx's error while waiting.
func RetryGlare(ctx context.Context, owner bool, tries int, rnd func(n int) int, attempt func() (glare bool, err error)) error {
	for i := range tries {
		if i > 0 {
			t := time.NewTimer(GlareDelay(owner, rnd))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		glare, err := attempt()
		if err != nil || !glare {
			return err
		}
	}
	return ErrGlare
}

// ErrStopped is given to an [Awaiting2xx]'s done function after Stop.
var ErrStopped = errors.New("dialog: 2xx retransmission stopped")

// Awaiting2xx is a 2xx to an INVITE waiting for its ACK (§13.3.1.4),
// driven by runtime timers and the dialog's ACK: it holds no goroutine
// while it waits, so that many calls share one mechanism.
type Awaiting2xx struct {
	mu       sync.Mutex
	finished bool
	reliable bool
	interval time.Duration
	t2       time.Duration
	send     func() error
	done     func(error)
	tick     *time.Timer
	giveUp   *time.Timer
}

// Await2xx starts the §13.3.1.4 retransmission of the 2xx sent to the
// INVITE with CSeq number seq: send is called "with an interval that
// starts at T1 seconds and doubles for each retransmission until it
// reaches T2 seconds" (never on a reliable transport), until the ACK
// reaches ReceiveRequest. done is called once: with nil on the ACK (on
// the goroutine that passed it), with ErrNoAck after 64·T1 — "the session
// SHOULD be terminated ... with a BYE" — or send's error (on a timer's
// goroutine), or with ErrStopped after Stop. An ACK received before the
// call completes it at once.
func (d *Dialog) Await2xx(seq uint32, t transaction.Timers, reliable bool, send func() error, done func(error)) *Awaiting2xx {
	t2 := t.T2
	if t2 <= 0 {
		t2 = transaction.DefaultT2
	}
	a := &Awaiting2xx{reliable: reliable, interval: t.A(), t2: t2, send: send, done: done}
	a.mu.Lock()
	a.tick = time.AfterFunc(a.interval, a.retransmit)
	a.giveUp = time.AfterFunc(64*t.A(), func() { a.finish(ErrNoAck) })
	a.mu.Unlock()
	d.mu.Lock()
	ch, seen := d.acks[seq]
	already := false
	if seen {
		select {
		case <-ch:
			already = true
		default:
		}
	}
	if !already {
		if d.onAck == nil {
			d.onAck = make(map[uint32][]func())
		}
		d.onAck[seq] = append(d.onAck[seq], func() { a.finish(nil) })
	}
	d.mu.Unlock()
	if already {
		a.finish(nil)
	}
	return a
}

// Stop ends the wait (the session ended); done gets ErrStopped unless it
// has been called already.
func (a *Awaiting2xx) Stop() { a.finish(ErrStopped) }

func (a *Awaiting2xx) finish(err error) {
	a.mu.Lock()
	if a.finished {
		a.mu.Unlock()
		return
	}
	a.finished = true
	a.tick.Stop()
	a.giveUp.Stop()
	a.mu.Unlock()
	a.done(err)
}

func (a *Awaiting2xx) retransmit() {
	a.mu.Lock()
	if a.finished {
		a.mu.Unlock()
		return
	}
	var err error
	if !a.reliable {
		err = a.send()
	}
	a.interval = min(2*a.interval, a.t2)
	a.tick.Reset(a.interval)
	a.mu.Unlock()
	if err != nil {
		a.finish(err)
	}
}
