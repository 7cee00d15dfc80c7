package dialog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
)

// TestRetransmit2xx checks §13.3.1.4's schedule: T1, then doubling to T2,
// until the ACK; ErrNoAck at 64·T1.
func TestRetransmit2xx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent []time.Duration
		start := time.Now()
		send := func() error { sent = append(sent, time.Since(start)); return nil }
		err := Retransmit2xx(context.Background(), transaction.Timers{}, false, send, nil)
		if !errors.Is(err, ErrNoAck) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != 32*time.Second {
			t.Errorf("gave up after %v, want 64*T1 = 32s", d)
		}
		want := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond, 7500 * time.Millisecond,
			11500 * time.Millisecond, 15500 * time.Millisecond, 19500 * time.Millisecond, 23500 * time.Millisecond, 27500 * time.Millisecond, 31500 * time.Millisecond}
		if len(sent) != len(want) {
			t.Fatalf("sent at %v, want %v", sent, want)
		}
		for i := range want {
			if sent[i] != want[i] {
				t.Errorf("retransmission %d at %v, want %v", i, sent[i], want[i])
			}
		}
	})
}

func TestRetransmit2xxStopsOnAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		req := parseReq(t, invite)
		res := sip.NewResponse(req, sip.StatusOK)
		res.SetToTag("uas1")
		_ = res.Add("Contact", "<sip:bob@192.0.2.2>")
		d, err := NewUAS(req, res, false)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		done := make(chan error, 1)
		go func() {
			done <- Retransmit2xx(context.Background(), transaction.Timers{}, false, func() error { n++; return nil }, d.AckFor(2))
		}()
		time.Sleep(2 * time.Second) // two retransmissions: 0.5 s and 1.5 s
		ack := sip.NewRequest(sip.ACK, req.URI)
		ack.SetCallID(req.CallID())
		ack.SetFrom(*req.From())
		ack.SetTo(*res.To())
		ack.SetCSeq(sip.CSeq{Seq: 2, Method: sip.ACK})
		if err := d.ReceiveRequest(ack); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil || n != 2 {
			t.Errorf("err %v after %d retransmissions, want nil after 2", err, n)
		}
		// An ACK that came before anyone waited is remembered.
		if err := d.ReceiveRequest(ackWithSeq(ack, 7)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.AckFor(7):
		default:
			t.Error("early ACK forgotten")
		}
		// Retransmitted ACKs (the peer re-ACKs each retransmitted 2xx) are
		// absorbed, whatever came first (this panicked on a closed channel).
		for range 3 {
			if err := d.ReceiveRequest(ack); err != nil {
				t.Fatal(err)
			}
			if err := d.ReceiveRequest(ackWithSeq(ack, 7)); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-d.AckFor(2):
		default:
			t.Error("ACK forgotten after retransmissions")
		}
	})
}

func TestRetransmit2xxReliable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := Retransmit2xx(context.Background(), transaction.Timers{}, true, func() error { n++; return nil }, nil)
		if !errors.Is(err, ErrNoAck) || n != 0 {
			t.Errorf("reliable: %v after %d sends, want ErrNoAck and none", err, n)
		}
	})
}

func ackWithSeq(a *sip.Request, seq uint32) *sip.Request {
	b := a.Clone()
	b.SetCSeq(sip.CSeq{Seq: seq, Method: sip.ACK})
	return b
}

// TestGlareDelay checks the §14.1 ranges and the 10 ms unit at both ends.
func TestGlareDelay(t *testing.T) {
	lo := func(int) int { return 0 }
	hi := func(n int) int { return n - 1 }
	cases := []struct {
		owner bool
		rnd   func(int) int
		want  time.Duration
	}{
		{true, lo, 2100 * time.Millisecond}, {true, hi, 4 * time.Second},
		{false, lo, 0}, {false, hi, 2 * time.Second},
	}
	for _, c := range cases {
		if got := GlareDelay(c.owner, c.rnd); got != c.want {
			t.Errorf("GlareDelay(owner=%v) = %v, want %v", c.owner, got, c.want)
		}
	}
	for range 200 {
		d := GlareDelay(true, nil)
		if d < 2100*time.Millisecond || d > 4*time.Second || d%(10*time.Millisecond) != 0 {
			t.Fatalf("owner delay %v outside 2.1–4 s in 10 ms units", d)
		}
		d = GlareDelay(false, nil)
		if d < 0 || d > 2*time.Second || d%(10*time.Millisecond) != 0 {
			t.Fatalf("non-owner delay %v outside 0–2 s in 10 ms units", d)
		}
	}
}

// TestRetransmitReliable checks RFC 3262 §3's schedule: T1 doubling
// without the T2 cap, ErrNoPrack at 64·T1.
func TestRetransmitReliable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent []time.Duration
		start := time.Now()
		err := RetransmitReliable(context.Background(), transaction.Timers{}, false, func() error {
			sent = append(sent, time.Since(start))
			return nil
		}, nil)
		if !errors.Is(err, ErrNoPrack) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != 32*time.Second {
			t.Errorf("gave up after %v, want 64*T1 = 32s", d)
		}
		// 0.5, 1.5, 3.5, 7.5, 15.5, 31.5: intervals 0.5, 1, 2, 4, 8, 16.
		want := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond,
			7500 * time.Millisecond, 15500 * time.Millisecond, 31500 * time.Millisecond}
		if len(sent) != len(want) {
			t.Fatalf("sent at %v, want %v", sent, want)
		}
		for i := range want {
			if sent[i] != want[i] {
				t.Errorf("retransmission %d at %v, want %v", i, sent[i], want[i])
			}
		}
	})
}

func TestRetransmitReliableStopsOnPrack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pracked := make(chan struct{})
		n := 0
		done := make(chan error, 1)
		go func() {
			done <- RetransmitReliable(context.Background(), transaction.Timers{T1: 100 * time.Millisecond}, false, func() error { n++; return nil }, pracked)
		}()
		time.Sleep(350 * time.Millisecond) // 0.1 and 0.3
		close(pracked)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d retransmissions before the PRACK, want 2", n)
		}
	})
}

func TestUsages(t *testing.T) {
	req := parseReq(t, invite)
	res := sip.NewResponse(req, sip.StatusRinging)
	res.SetToTag("uas1")
	d, err := NewUAS(req, res, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.State() != Early {
		t.Fatalf("state %v", d.State())
	}
	d.Confirm()
	if d.State() != Confirmed {
		t.Fatalf("after Confirm: %v", d.State())
	}
	d.AddUsage("invite")
	d.AddUsage("presence;id=1")
	if d.RemoveUsage("invite") || d.State() == Terminated {
		t.Fatal("dialog ended with a usage left (RFC 5057)")
	}
	if !d.RemoveUsage("presence;id=1") || d.State() != Terminated {
		t.Fatal("dialog did not end with its last usage")
	}
}

// TestRetryGlare checks the §14.1 retry schedule in virtual time: the
// Call-ID owner retries after 2.1–4 s, the other side after 0–2 s, each
// try after the previous 491.
func TestRetryGlare(t *testing.T) {
	for _, c := range []struct {
		owner bool
		rnd   func(int) int
		gap   time.Duration
	}{
		{true, func(int) int { return 0 }, 2100 * time.Millisecond},
		{true, func(n int) int { return n - 1 }, 4 * time.Second},
		{false, func(int) int { return 0 }, 0},
		{false, func(n int) int { return n - 1 }, 2 * time.Second},
		{false, func(int) int { return 37 }, 370 * time.Millisecond},
	} {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var at []time.Duration
			err := RetryGlare(context.Background(), c.owner, 5, c.rnd, func() (bool, error) {
				at = append(at, time.Since(start))
				return len(at) < 3, nil // 491, 491, then done
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []time.Duration{0, c.gap, 2 * c.gap}
			if fmt.Sprint(at) != fmt.Sprint(want) {
				t.Errorf("owner=%v: tries at %v, want %v", c.owner, at, want)
			}
		})
	}
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := RetryGlare(context.Background(), true, 3, nil, func() (bool, error) { n++; return true, nil })
		if !errors.Is(err, ErrGlare) || n != 3 {
			t.Errorf("always 491: err %v after %d tries", err, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = RetryGlare(ctx, true, 3, nil, func() (bool, error) { return true, nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ctx ended during the wait: %v", err)
		}
	})
}

// TestAwait2xx checks the goroutine-free form of §13.3.1.4 in virtual
// time: the same schedule as Retransmit2xx, ErrNoAck at 64·T1, the ACK
// through ReceiveRequest, an ACK that came first, Stop, and a reliable
// transport; done is called exactly once each time.
func TestAwait2xx(t *testing.T) {
	newDialog := func(t *testing.T) (*Dialog, *sip.Request) {
		req := parseReq(t, invite)
		res := sip.NewResponse(req, sip.StatusOK)
		res.SetToTag("uas1")
		d, err := NewUAS(req, res, false)
		if err != nil {
			t.Fatal(err)
		}
		ack := sip.NewRequest(sip.ACK, req.URI)
		ack.SetCallID(req.CallID())
		ack.SetFrom(*req.From())
		ack.SetTo(*res.To())
		ack.SetCSeq(sip.CSeq{Seq: 2, Method: sip.ACK})
		return d, ack
	}
	// The callbacks run on timer goroutines: mu orders them with the
	// checks (synctest's virtual time is no happens-before edge for the
	// race detector).
	var mu sync.Mutex
	synctest.Test(t, func(t *testing.T) {
		d, _ := newDialog(t)
		var sent []time.Duration
		var results []error
		start := time.Now()
		d.Await2xx(2, transaction.Timers{}, false, func() error { mu.Lock(); sent = append(sent, time.Since(start)); mu.Unlock(); return nil },
			func(err error) { mu.Lock(); results = append(results, err); mu.Unlock() })
		time.Sleep(40 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		want := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond, 7500 * time.Millisecond,
			11500 * time.Millisecond, 15500 * time.Millisecond, 19500 * time.Millisecond, 23500 * time.Millisecond, 27500 * time.Millisecond, 31500 * time.Millisecond}
		if fmt.Sprint(sent) != fmt.Sprint(want) {
			t.Errorf("sent at %v, want %v", sent, want)
		}
		if len(results) != 1 || !errors.Is(results[0], ErrNoAck) {
			t.Errorf("done with %v, want one ErrNoAck", results)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		d, ack := newDialog(t)
		n := 0
		var results []error
		d.Await2xx(2, transaction.Timers{}, false, func() error { mu.Lock(); n++; mu.Unlock(); return nil },
			func(err error) { mu.Lock(); results = append(results, err); mu.Unlock() })
		time.Sleep(2 * time.Second) // 0.5 and 1.5
		if err := d.ReceiveRequest(ack); err != nil {
			t.Fatal(err)
		}
		_ = d.ReceiveRequest(ack) // retransmitted ACK
		time.Sleep(time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if n != 2 || len(results) != 1 || results[0] != nil {
			t.Errorf("%d sends, done with %v; want 2 and one nil", n, results)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		d, ack := newDialog(t)
		_ = d.ReceiveRequest(ack) // the ACK overtook the start
		var results []error
		d.Await2xx(2, transaction.Timers{}, false, func() error { t.Error("sent after the ACK"); return nil }, func(err error) { results = append(results, err) })
		time.Sleep(time.Minute)
		if len(results) != 1 || results[0] != nil {
			t.Errorf("done with %v", results)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		d, _ := newDialog(t)
		var results []error
		a := d.Await2xx(2, transaction.Timers{}, true, func() error { t.Error("sent on a reliable transport"); return nil },
			func(err error) { mu.Lock(); results = append(results, err); mu.Unlock() })
		time.Sleep(10 * time.Second)
		a.Stop()
		a.Stop()
		time.Sleep(time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if len(results) != 1 || !errors.Is(results[0], ErrStopped) {
			t.Errorf("done with %v, want one ErrStopped", results)
		}
	})
}
