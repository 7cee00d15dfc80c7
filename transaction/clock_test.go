package transaction

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// Many transactions share a Layer's clock: 300 non-INVITE client
// transactions over UDP, started 1 ms apart, every third answered 200 at
// once. Whatever the others do, each timer runs its transaction exactly
// at its deadline and no disarmed timer runs it at all: an unanswered
// transaction sends its request at 0 s and again at 0.5, 1.5, 3.5, 7.5,
// 11.5 … 31.5 s (Timer E, doubling to T2 = 4 s, §17.1.2.2) and ends by
// Timer F at 32 s (11 timer runs: 10 E and F); an answered one sends once
// and ends by Timer K 5 s after the answer (one timer run: its E and F
// were disarmed).
func TestClockManyTransactions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		ends := map[string]time.Time{}
		runs := map[string]int{}
		tc := newTestConn(t, transport.UDP, func(c *Config) {
			c.Tracer = func(e Event) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case e.Kind == EventState && e.To == StateTerminated:
					ends[e.Key.Branch] = e.Time
				case e.Kind == EventTimer:
					runs[e.Key.Branch]++
				}
			}
		})
		defer tc.l.Close()

		type rec struct {
			start    time.Time
			tx       *ClientTx
			answered bool
		}
		const n = 300
		recs := make([]rec, n)
		tmpl := options(t)
		for i := range recs {
			req := newOptionsFrom(tmpl)
			ours := req.Clone()
			recs[i] = rec{start: time.Now(), tx: tc.request(req)}
			if i%3 == 0 {
				tc.recv(response(ours, 200, "bob"))
				recs[i].answered = true
			}
			tc.advance(time.Millisecond)
		}
		tc.advance(70 * time.Second)

		sent := map[string][]time.Duration{} // since the transaction's start
		byBranch := map[string]*rec{}
		for i := range recs {
			byBranch[recs[i].tx.Key().Branch] = &recs[i]
		}
		for _, s := range tc.take() {
			b := s.msg.(*sip.Request).TopVia().Branch()
			sent[b] = append(sent[b], s.at.Sub(byBranch[b].start))
		}
		const s = time.Second
		retrans := []time.Duration{0, s / 2, 3 * s / 2, 7 * s / 2, 15 * s / 2}
		for d := 15 * s / 2; d+4*s < 32*s; {
			d += 4 * s
			retrans = append(retrans, d)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range recs {
			b := r.tx.Key().Branch
			if r.answered {
				tc.wantDone(r.tx, nil, TimerNone)
				if len(sent[b]) != 1 || ends[b].Sub(r.start) != 5*s || runs[b] != 1 {
					t.Fatalf("answered transaction %d: sent at %v, ended after %v, %d timer runs; want once, 5s, 1",
						i, sent[b], ends[b].Sub(r.start), runs[b])
				}
				continue
			}
			tc.wantDone(r.tx, ErrTimeout, TimerF)
			if got := sent[b]; len(got) != len(retrans) || ends[b].Sub(r.start) != 32*s || runs[b] != len(retrans) {
				t.Fatalf("unanswered transaction %d: sent at %v, ended after %v, %d timer runs; want %v, 32s, %d",
					i, got, ends[b].Sub(r.start), runs[b], retrans, len(retrans))
			}
			for j, d := range retrans {
				if sent[b][j] != d {
					t.Fatalf("unanswered transaction %d: sent at %v, want %v", i, sent[b], retrans)
				}
			}
		}
		if n := tc.l.Len(); n != 0 {
			t.Fatalf("%d transactions left", n)
		}
		tc.l.clk.mu.Lock()
		free, slots := len(tc.l.clk.free), tc.l.clk.slots.len()
		tc.l.clk.mu.Unlock()
		if slots != 0 && free != slots-1 {
			t.Fatalf("%d of %d clock slots free after every transaction ended", free, slots-1)
		}
	})
}

// A deadline that falls less than coalesce after a firing of the clock
// waits for the next firing, coalesce after the first, and is never run
// early: two requests sent 0.5 ms apart are retransmitted (Timer E, T1)
// at 500 ms and at 501 ms, not at 500.5 ms.
func TestClockCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestConn(t, transport.UDP)
		defer tc.l.Close()
		t0 := time.Now()
		tmpl := options(t)
		tc.request(newOptionsFrom(tmpl))
		tc.advance(time.Millisecond / 2)
		tc.request(newOptionsFrom(tmpl))
		tc.take()
		tc.advance(DefaultT1 - time.Millisecond/2)
		if s := tc.take(); len(s) != 1 || s[0].at.Sub(t0) != DefaultT1 {
			t.Fatalf("at T1: %d sent, want the first request's retransmission", len(s))
		}
		tc.advance(time.Millisecond / 2)
		tc.wantNothingSent("the second deadline, 0.5 ms after the first firing")
		tc.advance(time.Millisecond / 2)
		s := tc.take()
		if len(s) != 1 || s[0].at.Sub(t0) != DefaultT1+coalesce {
			t.Fatalf("%v after the first firing: %d sent, want the second request's retransmission", coalesce, len(s))
		}
	})
}

// A clock queue stays FIFO across its blocks, growth and shrinking, and
// gives back the memory of a burst while it is still in use.
func TestClockQueue(t *testing.T) {
	var q queue
	next, want := 0, 0
	push := func(n int) {
		for range n {
			q.push(entry{at: time.Duration(next)})
			next++
		}
	}
	pop := func(n int) {
		for range n {
			if e := q.pop(); e.at != time.Duration(want) {
				t.Fatalf("popped %d, want %d", e.at, want)
			}
			want++
		}
	}
	for range 100 { // wrap around a small ring
		push(7)
		pop(5)
	}
	if n := q.blocks(); n > 2 {
		t.Fatalf("%d blocks for %d entries", n, q.size)
	}
	push(20000) // a burst
	if n := q.blocks(); n < 20000/queueBlock {
		t.Fatalf("%d blocks hold %d entries", n, q.size)
	}
	pop(q.size - 10)
	// The burst's memory is given back as it leaves: 10 entries in at
	// most two blocks, plus the spare.
	if n := q.blocks(); n > 3 {
		t.Fatalf("%d blocks held for %d entries", n, q.size)
	}
	push(3)
	pop(q.size)
	if q.size != 0 || next != want {
		t.Fatalf("size %d, pushed %d, popped %d", q.size, next, want)
	}
}
