package stack

import (
	"context"
	"sync"
	"testing"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// BenchmarkOPTIONS measures non-INVITE transactions through a Parley
// Client and Server in one process over loopback UDP: client transaction,
// transport both ways, server transaction, handler, response. 32
// transactions are in flight at once.
func BenchmarkOPTIONS(b *testing.B) {
	s := &Server{Handler: respond(sip.StatusOK)}
	ln, err := s.Listen(context.Background(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &Client{}
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
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tx/s")
}
