package stack

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// BenchmarkOPTIONS measures non-INVITE transactions through a Parley
// Client and Server in one process over loopback UDP (issue #5: "≥ 40,000
// OPTIONS transactions/s on one core"; run with -cpu 1): Client.Do builds
// the client transaction, the transport sends the request, the Server's
// transaction layer matches it and runs the handler, which answers 200;
// the response comes back the same way and Do returns it. 32 transactions
// are in flight at once; tx/s counts completed Do calls.
//
// With the RFC timers, transactions outlive the benchmark (Timer J keeps a
// UDP server transaction 32 s), so this measures a server whose tables and
// heap grow; BenchmarkOPTIONSSteady has them end.
func BenchmarkOPTIONS(b *testing.B) { benchOPTIONS(b, transaction.Timers{}) }

// BenchmarkOPTIONSSteady is BenchmarkOPTIONS with timers short enough
// (T1 10 ms: Timer J 640 ms, Timer K 50 ms) that transactions end during
// the run: the steady state of a long-running server, whose tables stay the
// same size and whose transactions reuse the timers of ended ones.
func BenchmarkOPTIONSSteady(b *testing.B) {
	benchOPTIONS(b, transaction.Timers{T1: 10 * time.Millisecond, T2: 40 * time.Millisecond, T4: 50 * time.Millisecond})
}

func benchOPTIONS(b *testing.B, timers transaction.Timers) {
	s := &Server{Handler: respond(sip.StatusOK), Timers: timers}
	ln, err := s.Listen(context.Background(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &Client{}
	c.own.Timers = timers
	defer c.Close()
	d := transport.Dest{Network: transport.UDP, Addr: ln.Addr()}
	const inflight = 32
	work := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for range inflight {
		wg.Go(func() {
			for range work {
				res, err := c.Do(context.Background(), request(sip.OPTIONS, ln.Addr()), WithDest(d))
				if err == nil && res.StatusCode != sip.StatusOK {
					err = context.DeadlineExceeded
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		})
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	cpu := cpuTime() - cpu0
	// (The last 32 transactions finish after the clock stopped: 0.1% of
	// a run of 30,000.)
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tx/s")
	// CPU time (user and system, all threads) per transaction: what one
	// core's throughput is bound by (1e9 / cpu-ns/tx), and much less
	// disturbed than tx/s when other processes share the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/tx")
}

// cpuTime returns the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOPTIONSAllocs holds the allocation budget of one OPTIONS transaction
// through Client and Server over loopback UDP, both sides and the request
// built by the caller included (BenchmarkOPTIONS measures the same under
// load). Of the 21: 14 are the sip package's and the request builder's
// (parsing two messages, building request and response, random tags and
// Call-ID), 7 are stack's, transaction's and transport's (the two
// transactions, the response channel and its buffer, the handler's state,
// the Via branch, received/rport). The copy of the encoded 200 that the
// server transaction keeps instead of the *sip.Response while Timer J runs
// (see TestOPTIONSRetained) is carved from a chunk shared with fifty-odd
// others. The timers cost none: each transaction layer runs them all on
// one *time.Timer and pointer-free queues (transaction's clock). (Before
// that: 26, four of them the two transactions' timers; 22 with a copy of
// each 200 of its own.)
func TestOPTIONSAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -race and -cover")
	}
	s := &Server{Handler: respond(sip.StatusOK)}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Client{}
	defer c.Close()
	d := transport.Dest{Network: transport.UDP, Addr: ln.Addr()}
	do := func() {
		res, err := c.Do(context.Background(), request(sip.OPTIONS, ln.Addr()), WithDest(d))
		if err != nil || res.StatusCode != sip.StatusOK {
			t.Fatalf("Do = %v, %v", res, err)
		}
	}
	do() // warm up: listeners, sockets, slabs
	const budget = 21
	if n := testing.AllocsPerRun(200, do); n > budget {
		t.Errorf("%.1f allocations per OPTIONS transaction, budget %d", n, budget)
	} else {
		t.Logf("%.1f allocations per OPTIONS transaction (budget %d)", n, budget)
	}
}

// TestOPTIONSRetained holds the memory an OPTIONS transaction keeps alive
// after Do has returned, while its server transaction waits out Timer J
// (32 s) and its client transaction Timer K (5 s) in Completed: both sides
// together, measured over 2,000 transactions as live heap after a GC. Both
// transactions have let the request go, and the server one keeps its 200
// as the bytes sent (pointer-free, so the GC does not scan them); what is
// left is the two transactions, their clock and table entries, and the
// received request's bytes that the transaction key's strings point into.
// (Before: 6,249 bytes, 19 objects; 2,588 bytes, 12 objects with a
// *time.Timer per transaction and tables keyed by strings; 2,190 bytes
// with a 512-byte ClientTx and a 480-byte ServerTx, now 384 and 448;
// 2,013 bytes with a clock whose slots and queues grew by copying.)
func TestOPTIONSRetained(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("heap figures differ under -race and -cover")
	}
	s := &Server{Handler: respond(sip.StatusOK)}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Client{}
	defer c.Close()
	d := transport.Dest{Network: transport.UDP, Addr: ln.Addr()}
	do := func() {
		res, err := c.Do(context.Background(), request(sip.OPTIONS, ln.Addr()), WithDest(d))
		if err != nil || res.StatusCode != sip.StatusOK {
			t.Fatalf("Do = %v, %v", res, err)
		}
	}
	for range 100 {
		do() // warm up: listeners, sockets, slabs, workers
	}
	const n = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		do()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.tx.Len(); got < n {
		t.Fatalf("%d server transactions alive, want ≥ %d (all in Completed)", got, n)
	}
	bytes := float64(after.HeapAlloc-before.HeapAlloc) / n
	objs := float64(after.HeapObjects-before.HeapObjects) / n
	const budget = 2050
	t.Logf("%.0f bytes, %.1f objects retained per OPTIONS transaction (budget %d bytes)", bytes, objs, budget)
	if bytes > budget {
		t.Errorf("%.0f bytes retained per OPTIONS transaction, budget %d", bytes, budget)
	}
}
