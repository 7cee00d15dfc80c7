package transaction

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// mailbox is an unbounded, ordered queue of received messages drained by
// one goroutine, like a transport's read loop: senders never block and
// never run the receiver's code.
type mailbox struct {
	mu     sync.Mutex
	q      []transport.Incoming
	closed bool
	wake   chan struct{}
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

func (m *mailbox) put(in transport.Incoming) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return transport.ErrFlowClosed
	}
	m.q = append(m.q, in)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run delivers messages to h until the mailbox is closed and empty.
func (m *mailbox) run(h func(transport.Incoming)) {
	var batch []transport.Incoming
	for {
		m.mu.Lock()
		batch, m.q = m.q, batch[:0]
		closed := m.closed
		m.mu.Unlock()
		for i := range batch {
			h(batch[i])
			batch[i] = transport.Incoming{}
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-m.wake
		}
	}
}

// memEnd is one side of a memPipe; it implements Transport.
type memEnd struct {
	out  *mailbox       // the peer's mailbox
	flow transport.Flow // this side's view of the flow
	peer transport.Flow // the peer's view
}

func (e *memEnd) SendRequest(ctx context.Context, req *sip.Request, d transport.Dest) (transport.Flow, error) {
	return e.flow, e.out.put(transport.Incoming{Message: req, Flow: e.peer, Time: time.Now()})
}

func (e *memEnd) SendResponse(ctx context.Context, res *sip.Response, in transport.Flow) error {
	return e.out.put(transport.Incoming{Message: res, Flow: e.peer, Time: time.Now()})
}

// memPipe connects a client Layer and a server Layer in memory. Messages
// are passed as pointers, not copied: neither side changes them.
type memPipe struct {
	client, server *memEnd
	toClient       *mailbox
	toServer       *mailbox
	wg             sync.WaitGroup
}

func newMemPipe(n transport.Network) *memPipe {
	a := netip.MustParseAddrPort("10.0.0.1:5060")
	b := netip.MustParseAddrPort("10.0.0.2:5060")
	var id uint64
	if n.Reliable() {
		id = 1
	}
	ca := transport.Flow{Network: n, Local: a, Remote: b, ConnID: id}
	sb := transport.Flow{Network: n, Local: b, Remote: a, ConnID: id}
	p := &memPipe{toClient: newMailbox(), toServer: newMailbox()}
	p.client = &memEnd{out: p.toServer, flow: ca, peer: sb}
	p.server = &memEnd{out: p.toClient, flow: sb, peer: ca}
	return p
}

func (p *memPipe) start(client, server *Layer) {
	p.wg.Go(func() { p.toClient.run(client.HandleIncoming) })
	p.wg.Go(func() { p.toServer.run(server.HandleIncoming) })
}

func (p *memPipe) close() {
	p.toClient.close()
	p.toServer.close()
	p.wg.Wait()
}

// okServer answers every request 200.
func okServer(tx *ServerTx, req *sip.Request) {
	_ = tx.Respond(context.Background(), sip.NewResponse(req, sip.StatusOK))
}

// newOptionsFrom returns a copy of tmpl with a new branch.
func newOptionsFrom(tmpl *sip.Request) *sip.Request {
	req := tmpl.Clone()
	v := *req.TopVia()
	v.Params = v.Params.Set("branch", sip.NewBranch())
	req.SetTopVia(v)
	return req
}

// One hundred thousand non-INVITE transactions through two Layers over
// UDP, in batches with the fake clock advanced past Timer J between them:
// every transaction ends, no goroutine is left, and the heap comes back to
// where it was after the first batch.
func TestManyNonInviteTransactions(t *testing.T) {
	const (
		total   = 100_000
		batches = 10
		workers = 20
		per     = total / batches / workers
	)
	synctest.Test(t, func(t *testing.T) {
		g0 := runtime.NumGoroutine()
		p := newMemPipe(transport.UDP)
		server := NewLayer(p.server, Config{OnRequest: okServer})
		client := NewLayer(p.client, Config{})
		p.start(client, server)
		defer p.close() // also on t.Fatal
		tmpl := options(t)
		dest := transport.Dest{Network: transport.UDP, Addr: p.client.flow.Remote}
		var ok, bad atomic.Int64

		batch := func() {
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range per {
						tx, err := client.Request(context.Background(), newOptionsFrom(tmpl), dest)
						if err != nil {
							bad.Add(1)
							continue
						}
						// The 200 comes first; the channel closes only at
						// Timer K, which this worker does not wait for.
						if res := <-tx.Responses(); res != nil && res.StatusCode == sip.StatusOK {
							ok.Add(1)
						} else {
							bad.Add(1)
						}
						// 20 transactions per (fake) millisecond: timers
						// expire spread out, as they do in real life,
						// rather than all in the same instant.
						time.Sleep(time.Millisecond)
					}
				})
			}
			wg.Wait()
			time.Sleep(64*DefaultT1 + time.Second) // past Timers J and K
			synctest.Wait()
			if n, m := client.Len(), server.Len(); n != 0 || m != 0 {
				t.Fatalf("after a batch: %d client and %d server transactions left", n, m)
			}
		}

		batch()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, baseObjects := ms.HeapInuse, ms.HeapObjects
		for range batches - 1 {
			batch()
			if testing.Verbose() {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				t.Logf("HeapInuse %d KiB, HeapAlloc %d KiB, HeapObjects %d, StackInuse %d KiB, goroutines %d", ms.HeapInuse>>10, ms.HeapAlloc>>10, ms.HeapObjects, ms.StackInuse>>10, runtime.NumGoroutine())
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ok.Load() != total || bad.Load() != 0 {
			t.Fatalf("%d transactions answered 200, %d failed; want %d", ok.Load(), bad.Load(), total)
		}
		client.mu.Lock()
		tables := client.clients.len() + server.servers.len() + len(server.legacy.m) + server.merged.len()
		client.mu.Unlock()
		if tables != 0 {
			t.Fatalf("%d entries left in the tables", tables)
		}
		growth := int64(ms.HeapInuse) - int64(base)
		t.Logf("HeapInuse after first batch %d KiB, after %d transactions %d KiB", base>>10, total, ms.HeapInuse>>10)
		if growth > 1<<20 {
			t.Errorf("heap grew by %d KiB over %d transactions", growth>>10, total-total/batches)
		}
		if objs := int64(ms.HeapObjects) - int64(baseObjects); objs > 1000 {
			t.Errorf("%d more heap objects after %d transactions", objs, total-total/batches)
		}
		client.Close()
		server.Close()
		p.close()
		// Let goroutines that are on their way out finish before counting.
		synctest.Wait()
		if g := runtime.NumGoroutine(); g > g0 {
			t.Errorf("%d goroutines left, %d before", g, g0)
		}
	})
}

// The retransmission paths allocate nothing: matching a request to its
// server transaction and absorbing it, and absorbing a retransmitted
// response in a client transaction.
func TestAllocs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestConn(t, transport.UDP, func(c *Config) { c.Tracer = nil })
		defer tc.l.Close()
		_, req := tc.newOptions()
		in := transport.Incoming{Message: req, Flow: tc.flow}
		if n := testing.AllocsPerRun(100, func() { tc.l.HandleIncoming(in) }); n != 0 {
			t.Errorf("absorbing a request retransmission: %v allocs", n)
		}
		ctx := tc.request(options(t))
		sent := tc.wantRequest("OPTIONS", sip.OPTIONS)
		ok := response(sent, 200, "bob")
		tc.recv(ok)
		tc.wantResponses(ctx, 200)
		rin := transport.Incoming{Message: ok, Flow: tc.flow}
		if n := testing.AllocsPerRun(100, func() { tc.l.HandleIncoming(rin) }); n != 0 {
			t.Errorf("absorbing a response retransmission: %v allocs", n)
		}
	})
}

// BenchmarkNonInviteTransactions runs OPTIONS transactions one after the
// other from a client Layer to a server Layer over the in-memory network
// (request, 200, back to the client's TU), over a reliable flow (Timers J
// and K zero) and over UDP with T1 = 2 ms, T2 = 8 ms and T4 = 10 ms, so
// that state drains while the benchmark runs (Timer J is 128 ms).
func BenchmarkNonInviteTransactions(b *testing.B) {
	for _, c := range []struct {
		name   string
		net    transport.Network
		timers Timers
	}{
		{"TCP", transport.TCP, Timers{}},
		{"UDP", transport.UDP, Timers{T1: 2 * time.Millisecond, T2: 8 * time.Millisecond, T4: 10 * time.Millisecond}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newMemPipe(c.net)
			server := NewLayer(p.server, Config{Timers: c.timers, OnRequest: okServer})
			client := NewLayer(p.client, Config{Timers: c.timers})
			p.start(client, server)
			defer func() {
				client.Close()
				server.Close()
				p.close()
			}()
			tmpl := options(b)
			dest := transport.Dest{Network: c.net, Addr: p.client.flow.Remote}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tx, err := client.Request(ctx, newOptionsFrom(tmpl), dest)
				if err != nil {
					b.Fatal(err)
				}
				res := <-tx.Responses()
				for res != nil && res.StatusCode.Provisional() { // a 100 after Timers.NonInvite100
					res = <-tx.Responses()
				}
				if res == nil || res.StatusCode != sip.StatusOK {
					b.Fatalf("response %v, err %v", res, tx.Err())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// TestTimerReuse checks that transactions take the clock slots of ended
// ones: once a first round has ended, a second round of as many
// transactions grows no slot table, every slot is given back, and the
// Layer's one timer still drives the machines (Timers K and J end every
// transaction).
func TestTimerReuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newMemPipe(transport.UDP)
		server := NewLayer(p.server, Config{OnRequest: okServer})
		client := NewLayer(p.client, Config{})
		p.start(client, server)
		defer p.close()
		tmpl := options(t)
		dest := transport.Dest{Network: transport.UDP, Addr: p.client.flow.Remote}
		slots := func(l *Layer) (n, free int) {
			l.clk.mu.Lock()
			defer l.clk.mu.Unlock()
			return l.clk.slots.len(), len(l.clk.free)
		}
		round := func() {
			for range 20 {
				tx, err := client.Request(context.Background(), newOptionsFrom(tmpl), dest)
				if err != nil {
					t.Fatal(err)
				}
				if res := <-tx.Responses(); res == nil || res.StatusCode != sip.StatusOK {
					t.Fatalf("response %v", res)
				}
			}
			time.Sleep(64*DefaultT1 + time.Second) // past Timers J and K
			synctest.Wait()
			if n, m := client.Len(), server.Len(); n != 0 || m != 0 {
				t.Fatalf("%d client and %d server transactions left", n, m)
			}
		}
		round()
		c0, _ := slots(client)
		s0, _ := slots(server)
		if c0 < 2 || s0 < 2 {
			t.Fatalf("slot tables of %d (client) and %d (server): timers not on the clock", c0, s0)
		}
		round()
		c, cfree := slots(client)
		s, sfree := slots(server)
		if c != c0 || s != s0 {
			t.Errorf("second round grew the slot tables: %d→%d (client), %d→%d (server)", c0, c, s0, s)
		}
		if cfree != c-1 || sfree != s-1 {
			t.Errorf("slots not given back: %d of %d free (client), %d of %d (server)", cfree, c-1, sfree, s-1)
		}
	})
}

// TestTxSize keeps both transaction types within 512 bytes: larger objects
// with pointers carry a malloc header, set on every allocation, and fall
// in a 576-byte size class.
func TestTxSize(t *testing.T) {
	if n := unsafe.Sizeof(ServerTx{}); n > 512 {
		t.Errorf("ServerTx is %d bytes, want ≤ 512", n)
	}
	if n := unsafe.Sizeof(ClientTx{}); n > 512 {
		t.Errorf("ClientTx is %d bytes, want ≤ 512", n)
	}
}
