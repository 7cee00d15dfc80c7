package transaction

import "time"

// RFC 3261 §17.1.1.1, Table 4: the defaults of T1, T2 and T4.
const (
	DefaultT1 = 500 * time.Millisecond // RTT estimate
	DefaultT2 = 4 * time.Second        // maximum retransmit interval for non-INVITE requests and INVITE responses
	DefaultT4 = 5 * time.Second        // maximum duration a message remains in the network
)

// trying100 is the delay after which an INVITE server transaction sends
// 100 Trying itself (§17.2.1: "unless it knows that the TU will generate a
// provisional or final response within 200 ms").
const trying100 = 200 * time.Millisecond

// Timers holds the base timer values of RFC 3261 §17.1.1.1 from which
// every transaction timer is derived (Table 4, RFC 6026 §8.11). The zero
// value, and any zero or negative field, means the RFC default: T1 500 ms,
// T2 4 s, T4 5 s.
//
// §17.1.1.2: T1 "MAY be chosen larger, and this is RECOMMENDED if it is
// known in advance (such as on high latency access links) that the RTT is
// larger"; smaller values are "NOT RECOMMENDED" outside closed networks.
// Whatever the values, the exponential back-off is kept.
type Timers struct {
	T1, T2, T4 time.Duration
}

// norm returns t with defaults filled in.
func (t Timers) norm() Timers {
	if t.T1 <= 0 {
		t.T1 = DefaultT1
	}
	if t.T2 <= 0 {
		t.T2 = DefaultT2
	}
	if t.T4 <= 0 {
		t.T4 = DefaultT4
	}
	return t
}

// A is the initial INVITE request retransmit interval on unreliable
// transports, T1; it doubles after each retransmission without a cap
// (§17.1.1.2).
func (t Timers) A() time.Duration { return t.norm().T1 }

// B is the INVITE transaction timeout, 64·T1 (§17.1.1.2).
func (t Timers) B() time.Duration { return 64 * t.norm().T1 }

// C is the proxy INVITE transaction timeout of §16.6 step 11, which Table 4
// gives as "> 3min": 3 min 1 s. This package does not run Timer C; proxies
// do.
func (t Timers) C() time.Duration { return 3*time.Minute + time.Second }

// D is the wait time for response retransmissions in the Completed state
// of an INVITE client transaction: zero on a reliable transport, otherwise
// "at least 32 seconds" (§17.1.1.2, RFC 6026 §8.4). Parley uses the
// larger of 32 s and 64·T1 so that it also covers a server whose Timer H
// follows a larger T1.
func (t Timers) D(reliable bool) time.Duration {
	if reliable {
		return 0
	}
	return max(32*time.Second, 64*t.norm().T1)
}

// E is the initial non-INVITE request retransmit interval on unreliable
// transports, T1; it doubles up to T2, and is T2 in the Proceeding state
// (§17.1.2.2).
func (t Timers) E() time.Duration { return t.norm().T1 }

// F is the non-INVITE transaction timeout, 64·T1 (§17.1.2.2).
func (t Timers) F() time.Duration { return 64 * t.norm().T1 }

// G is the initial INVITE response retransmit interval on unreliable
// transports, T1; it doubles up to T2 (§17.2.1).
func (t Timers) G() time.Duration { return t.norm().T1 }

// H is the wait time for the ACK of a non-2xx final response, 64·T1
// (§17.2.1).
func (t Timers) H() time.Duration { return 64 * t.norm().T1 }

// I is the wait time for ACK retransmissions in the Confirmed state: T4
// on an unreliable transport, zero on a reliable one (§17.2.1).
func (t Timers) I(reliable bool) time.Duration {
	if reliable {
		return 0
	}
	return t.norm().T4
}

// J is the wait time for non-INVITE request retransmissions in the
// Completed state: 64·T1 on an unreliable transport, zero on a reliable
// one (§17.2.2).
func (t Timers) J(reliable bool) time.Duration {
	if reliable {
		return 0
	}
	return 64 * t.norm().T1
}

// K is the wait time for response retransmissions in the Completed state
// of a non-INVITE client transaction: T4 on an unreliable transport, zero
// on a reliable one (§17.1.2.2).
func (t Timers) K(reliable bool) time.Duration {
	if reliable {
		return 0
	}
	return t.norm().T4
}

// L is the wait time for retransmissions of an accepted INVITE request,
// 64·T1 on every transport (RFC 6026 §8.7).
func (t Timers) L() time.Duration { return 64 * t.norm().T1 }

// M is the wait time for retransmissions of the 2xx to an INVITE, or for
// 2xx responses from other branches of a forked INVITE, 64·T1 (RFC 6026
// §8.4).
func (t Timers) M() time.Duration { return 64 * t.norm().T1 }

// NonInvite100 is how long a non-INVITE server transaction waits for its
// TU before it answers 100 Trying itself: the time a client transaction's
// Timer E takes to be reset to T2 (3.5 s with the defaults: 0.5 + 1 + 2).
//
// RFC 4320 §4.1: "An SIP element MUST NOT respond to a non-INVITE request
// with a Status-Code of 100 over any unreliable transport, such as UDP,
// before the amount of time it takes a client transaction's Timer E to be
// reset to T2." and "Without regard to transport, an SIP element MUST
// respond to a non-INVITE request with a Status-Code of 100 if it has not
// otherwise responded after the amount of time it takes a client
// transaction's Timer E to be reset to T2."
func (t Timers) NonInvite100() time.Duration {
	t = t.norm()
	var total time.Duration
	e := t.T1
	for range 64 { // e at least doubles each round; 64 rounds bound any T1 > 0
		total += e
		e = min(2*e, t.T2)
		if e >= t.T2 {
			break
		}
	}
	return total
}

// Timer names one of the timers a transaction runs (RFC 3261 Table 4, RFC
// 6026 §8.11), for [Event] and [Error].
type Timer uint8

// Timers run by the transaction layer. TimerTrying is not in Table 4: it is
// the 200 ms after which an INVITE server transaction sends 100 Trying
// (§17.2.1) and the [Timers.NonInvite100] delay after which a non-INVITE
// server transaction does (RFC 4320 §4.1).
const (
	TimerNone Timer = iota
	TimerA
	TimerB
	TimerD
	TimerE
	TimerF
	TimerG
	TimerH
	TimerI
	TimerJ
	TimerK
	TimerL
	TimerM
	TimerTrying
)

var timerNames = [...]string{
	TimerNone:   "",
	TimerA:      "A",
	TimerB:      "B",
	TimerD:      "D",
	TimerE:      "E",
	TimerF:      "F",
	TimerG:      "G",
	TimerH:      "H",
	TimerI:      "I",
	TimerJ:      "J",
	TimerK:      "K",
	TimerL:      "L",
	TimerM:      "M",
	TimerTrying: "Trying",
}

// String returns "Timer A" … "Timer M", "Timer Trying", or "" for TimerNone.
func (t Timer) String() string {
	if t == TimerNone || int(t) >= len(timerNames) {
		return ""
	}
	return "Timer " + timerNames[t]
}
