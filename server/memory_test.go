package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
)

// recorder is a stack.ResponseWriter that keeps the final status.
type recorder struct{ status sip.StatusCode }

func (r *recorder) Respond(res *sip.Response) error {
	if res.StatusCode >= 200 {
		r.status = res.StatusCode
	}
	return nil
}
func (r *recorder) Responded() bool { return r.status != 0 }

// registerMany sends n REGISTERs, as parsed from the wire, through the
// server's handler chain (metrics, registrar, store) from 64 goroutines
// (so that bolt's group commit shares fsyncs, as under real load) and
// checks each is answered 200.
func registerMany(tb testing.TB, s *Server, n int) {
	tb.Helper()
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := registerOne(s, i, 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func registerOne(s *Server, i, cseq int) error {
	h := s.sip.Handler
	ctx := context.Background()
	{
		msg := fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 10.%d.%d.%d:5060;branch=z9hG4bK%08x;rport\r\n"+
			"From: <sip:user%d@127.0.0.1>;tag=%08x\r\n"+
			"To: <sip:user%d@127.0.0.1>\r\n"+
			"Call-ID: %08x-reg@10.0.0.1\r\n"+
			"CSeq: %d REGISTER\r\n"+
			"Contact: <sip:user%d@10.%d.%d.%d:5060;transport=udp>;expires=3600\r\n"+
			"Max-Forwards: 70\r\nUser-Agent: bench\r\nContent-Length: 0\r\n\r\n",
			i>>16&255, i>>8&255, i&255, i, i, i, i, i, cseq, i, i>>16&255, i>>8&255, i&255)
		m, err := sip.Parse([]byte(msg))
		if err != nil {
			return err
		}
		var rec recorder
		h.ServeSIP(ctx, &rec, m.(*sip.Request))
		if rec.status != sip.StatusOK {
			return fmt.Errorf("REGISTER %d answered %d", i, rec.status)
		}
	}
	return nil
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkBindingMemory reports the Go heap held per stored binding with
// 100,000 bindings registered through the server's handler chain (issue
// #7's target: under 1 KiB per binding). For the bolt store the mapped
// file is outside the Go heap; its size per binding is reported too.
//
//	go test -run '^$' -bench BindingMemory -benchtime 1x ./server/
func BenchmarkBindingMemory(b *testing.B) {
	const n = 100000
	for _, store := range []string{"memory", "bolt"} {
		b.Run(store, func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: store, Data: dir, Admin: "off"}
				cfg.Defaults()
				s, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				before := heapAfterGC()
				registerMany(b, s, n)
				after := heapAfterGC()
				count := 0
				_ = s.Store().Range(context.Background(), func(r location.Record) bool { count += len(r.Bindings); return true })
				if count != n {
					b.Fatalf("%d bindings stored, want %d", count, n)
				}
				b.ReportMetric(float64(after-before)/n, "heap-B/binding")
				if store == "bolt" {
					if fi, err := os.Stat(filepath.Join(dir, "location.db")); err == nil {
						b.ReportMetric(float64(fi.Size())/n, "file-B/binding")
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5e9)
				_ = s.Shutdown(ctx)
				cancel()
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkRegisterHandler: one REGISTER (parsed from the wire) through
// the server's handler chain — metrics, logging, registrar, memory store —
// without the transport and transaction layers.
//
//	go test -run '^$' -bench RegisterHandler -benchmem ./server/
func BenchmarkRegisterHandler(b *testing.B) {
	cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"}
	cfg.Defaults()
	s, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5e9)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Each round over the 50,000 users refreshes their bindings with a
		// higher CSeq (§10.3 step 7).
		if err := registerOne(s, i%50000, i/50000+1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
