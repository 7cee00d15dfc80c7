package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// fastTimers keep the tests short; the transaction package tests the RFC
// values.
var fastTimers = transaction.Timers{T1: 20 * time.Millisecond, T2: 80 * time.Millisecond, T4: 100 * time.Millisecond}

func newServer(t *testing.T, h Handler, n transport.Network, opts ...func(*Server)) (*Server, netip.AddrPort) {
	t.Helper()
	s := &Server{Handler: h, Timers: fastTimers}
	for _, o := range opts {
		o(s)
	}
	ln, err := s.Listen(t.Context(), n, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, ln.Addr()
}

func newClient(t *testing.T) *Client {
	t.Helper()
	c := &Client{}
	c.own.Timers = fastTimers
	t.Cleanup(func() { c.Close() })
	return c
}

func request(method sip.Method, addr netip.AddrPort) *sip.Request {
	u := sip.URI{Scheme: "sip", User: "bob", Host: addr.Addr().String(), Port: addr.Port()}
	r := sip.NewRequest(method, u)
	r.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.Params(";tag=" + sip.NewTag())})
	r.SetTo(sip.NameAddr{URI: u})
	r.SetCallID(sip.NewCallID("test"))
	r.SetCSeq(sip.CSeq{Seq: 1, Method: method})
	r.SetMaxForwards(70)
	return r
}

func respond(code sip.StatusCode) HandlerFunc {
	return func(_ context.Context, w ResponseWriter, r *sip.Request) {
		if err := w.Respond(sip.NewResponse(r, code)); err != nil {
			panic(err)
		}
	}
}

func TestDoOverNetworks(t *testing.T) {
	for _, n := range []transport.Network{transport.UDP, transport.TCP} {
		t.Run(n.String(), func(t *testing.T) {
			mux := &ServeMux{}
			mux.Handle(sip.OPTIONS, respond(sip.StatusOK))
			_, addr := newServer(t, mux, n)
			c := newClient(t)
			res, err := c.Do(t.Context(), request(sip.OPTIONS, addr), WithDest(transport.Dest{Network: n, Addr: addr}))
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("Do = %v, %v", res, err)
			}
			// The URI routes by itself too (numeric host, RFC 3263 §4.1).
			req := request(sip.OPTIONS, addr)
			req.URI.Params = sip.Params(";transport=" + strings.ToLower(n.String()))
			if res, err := c.Do(t.Context(), req); err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("Do by URI = %v, %v", res, err)
			}
		})
	}
}

func TestServeMux405(t *testing.T) {
	mux := &ServeMux{}
	mux.Handle(sip.OPTIONS, respond(sip.StatusOK))
	mux.Handle(sip.INVITE, respond(sip.StatusBusyHere))
	_, addr := newServer(t, mux, transport.UDP)
	c := newClient(t)
	res, err := c.Do(t.Context(), request(sip.MESSAGE, addr))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != sip.StatusMethodNotAllowed || res.Get("Allow") != "INVITE, OPTIONS" {
		t.Errorf("got %d Allow %q", res.StatusCode, res.Get("Allow"))
	}
}

func TestHandlerContract(t *testing.T) {
	var srv *Server
	mux := &ServeMux{}
	mux.HandleFunc("PANIC", func(context.Context, ResponseWriter, *sip.Request) { panic("boom") })
	mux.HandleFunc("SILENT", func(context.Context, ResponseWriter, *sip.Request) {})
	mux.HandleFunc("TWICE", func(_ context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
		if err := w.Respond(sip.NewResponse(r, sip.StatusOK)); err == nil {
			panic("second final accepted")
		}
	})
	srv, addr := newServer(t, mux, transport.UDP)
	c := newClient(t)
	for method, want := range map[sip.Method]sip.StatusCode{"PANIC": 500, "SILENT": 500, "TWICE": 200} {
		res, err := c.Do(t.Context(), request(method, addr))
		if err != nil || res.StatusCode != want {
			t.Errorf("%s: %v %v, want %d", method, res, err, want)
		}
	}
	if srv.Panics() != 1 {
		t.Errorf("panics = %d, want 1", srv.Panics())
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *sip.Request) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				next.ServeSIP(ctx, w, r)
			})
		}
	}
	h := Chain(respond(sip.StatusOK), mw("a"), mw("b"))
	_, addr := newServer(t, h, transport.UDP)
	c := newClient(t)
	if _, err := c.Do(t.Context(), request(sip.OPTIONS, addr)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, "") != "ab" {
		t.Errorf("order %v", order)
	}
}

// TestCancel: cancelling the client's ctx after a provisional response sends
// CANCEL (§9.1); the server answers it 200, the handler's ctx ends with
// ErrCanceled (a *CancelError with the CANCEL), and the INVITE gets 487
// (§9.2).
func TestCancel(t *testing.T) {
	cause := make(chan error, 1)
	h := HandlerFunc(func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusRinging))
		<-ctx.Done()
		cause <- context.Cause(ctx)
	})
	_, addr := newServer(t, h, transport.UDP)
	c := newClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	ringing := make(chan struct{})
	go func() { <-ringing; cancel() }()
	res, err := c.Do(ctx, request(sip.INVITE, addr), WithProvisional(func(r *sip.Response) {
		if r.StatusCode == sip.StatusRinging {
			close(ringing)
		}
	}))
	if !errors.Is(err, context.Canceled) || res == nil || res.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("Do = %v, %v; want 487 and context.Canceled", res, err)
	}
	select {
	case got := <-cause:
		var ce *CancelError
		if !errors.Is(got, ErrCanceled) || !errors.As(got, &ce) || ce.Request.Method != sip.CANCEL {
			t.Errorf("handler ctx cause = %v, want a *CancelError holding the CANCEL", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx not cancelled")
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		select {
		case <-ctx.Done():
		case <-release:
		}
	})
	_, addr := newServer(t, h, transport.UDP)
	t.Cleanup(func() { close(release) }) // runs before the server's shutdown
	c := newClient(t)
	// The server's handler never answers a non-INVITE: Timer F fires at the
	// client (64·T1 = 1.28 s here) and Do reports ErrTimeout (§8.1.3.1).
	start := time.Now()
	_, err := c.Do(t.Context(), request(sip.OPTIONS, addr))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 64*fastTimers.T1 {
		t.Errorf("timed out after %v, before Timer F", d)
	}
}

func TestTransportErrorFailsOver(t *testing.T) {
	mux := &ServeMux{}
	mux.Handle(sip.OPTIONS, respond(sip.StatusOK))
	_, addr := newServer(t, mux, transport.TCP)
	c := newClient(t)
	// A TCP destination nobody listens on fails; Do reports ErrTransport.
	dead := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 1)
	_, err := c.Do(t.Context(), request(sip.OPTIONS, addr), WithDest(transport.Dest{Network: transport.TCP, Addr: dead}))
	if !errors.Is(err, ErrTransport) {
		t.Errorf("err = %v, want ErrTransport", err)
	}
}

func TestAckGoesToOnAck(t *testing.T) {
	got := make(chan *sip.Request, 1)
	h := HandlerFunc(func(_ context.Context, w ResponseWriter, r *sip.Request) {
		res := sip.NewResponse(r, sip.StatusOK)
		_ = w.Respond(res)
	})
	_, addr := newServer(t, h, transport.UDP, func(s *Server) {
		s.OnAck = func(ack *sip.Request, _ transport.Flow) { got <- ack }
	})
	c := newClient(t)
	inv := request(sip.INVITE, addr)
	res, err := c.Do(t.Context(), inv)
	if err != nil || res.StatusCode != 200 {
		t.Fatal(res, err)
	}
	ack := request(sip.ACK, addr)
	ack.SetCallID(inv.CallID())
	ack.SetTo(*res.To())
	if _, err := c.SendAck(t.Context(), ack, transport.Dest{Network: transport.UDP, Addr: addr}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if a.CallID() != inv.CallID() {
			t.Errorf("ACK Call-ID %q", a.CallID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ACK not delivered")
	}
}

func TestManyTransactions(t *testing.T) {
	var n atomic.Int64
	h := HandlerFunc(func(_ context.Context, w ResponseWriter, r *sip.Request) {
		n.Add(1)
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	_, addr := newServer(t, h, transport.UDP)
	c := newClient(t)
	const total = 500
	errs := make(chan error, total)
	for i := range total {
		go func() {
			r := request(sip.OPTIONS, addr)
			r.SetCallID(fmt.Sprintf("many-%d", i))
			res, err := c.Do(t.Context(), r)
			if err == nil && res.StatusCode != 200 {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
			errs <- err
		}()
	}
	for range total {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != total {
		t.Errorf("handler ran %d times, want %d", n.Load(), total)
	}
}

func TestNewCancel(t *testing.T) {
	inv := request(sip.INVITE, netip.MustParseAddrPort("127.0.0.1:5060"))
	inv.PrependVia(sip.Via{Transport: "UDP", Host: "a.example.com", Params: ";branch=z9hG4bKx1"})
	_ = inv.Add("Route", "<sip:p1.example.com;lr>")
	c := NewCancel(inv)
	cs, _ := c.CSeq()
	if c.Method != sip.CANCEL || cs.Method != sip.CANCEL || cs.Seq != 1 || c.TopVia().Branch() != "z9hG4bKx1" ||
		c.CallID() != inv.CallID() || c.From().Tag() != inv.From().Tag() || len(c.Routes()) != 1 || !c.URI.Equal(&inv.URI) {
		t.Errorf("CANCEL:\n%s", c)
	}
}

// TestFailoverBranch checks the branch of a retry to the next destination
// (RFC 3263 §4.3): a new one, random by default, derived from the previous
// one with WithRetryBranch (a proxy keeps its loop-detection hash so).
func TestFailoverBranch(t *testing.T) {
	branches := make(chan string, 4)
	record := func(code sip.StatusCode) HandlerFunc {
		return func(_ context.Context, w ResponseWriter, r *sip.Request) {
			branches <- r.TopVia().Branch()
			_ = w.Respond(sip.NewResponse(r, code))
		}
	}
	_, busy := newServer(t, record(sip.StatusServiceUnavailable), transport.UDP)
	_, ok := newServer(t, record(sip.StatusOK), transport.UDP)
	dests := WithDests(transport.Dest{Network: transport.UDP, Addr: busy}, transport.Dest{Network: transport.UDP, Addr: ok})
	c := newClient(t)
	for _, tc := range []struct {
		name string
		opts []Option
		want func(first, second string) bool
	}{
		{"random", nil, func(first, second string) bool { return !strings.Contains(second, ".") }},
		{"derived", []Option{WithRetryBranch(func(prev string) string {
			_, hash, _ := strings.Cut(prev, ".")
			return sip.NewBranch() + "." + hash
		})}, func(first, second string) bool { return strings.HasSuffix(second, ".loophash") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(sip.OPTIONS, ok)
			first := sip.NewBranch() + ".loophash"
			req.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: sip.Params(";branch=" + first)})
			res, err := c.Do(t.Context(), req, append(tc.opts, dests)...)
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("Do = %v, %v; want 200 from the second destination", res, err)
			}
			if got := <-branches; got != first {
				t.Errorf("first attempt branch = %q, want %q", got, first)
			}
			second := <-branches
			if second == first || !strings.HasPrefix(second, sip.MagicCookie) || !tc.want(first, second) {
				t.Errorf("retry branch = %q (first %q)", second, first)
			}
			if got := res.TopVia().Branch(); got != second {
				t.Errorf("response branch = %q, want %q", got, second)
			}
		})
	}
}

// TestHandlerContext checks the handler's context (DESIGN: it ends when
// its server transaction ends; a CANCEL cancels it with ErrCanceled), also
// when the handler first touches it late, and for contexts derived from it.
func TestHandlerContext(t *testing.T) {
	type outcome struct {
		cause, derived error
	}
	got := make(chan outcome, 4)
	wait := func(ctx context.Context) {
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		<-child.Done()
		got <- outcome{context.Cause(ctx), context.Cause(child)}
	}
	mux := &ServeMux{}
	// Answers, then waits: the transaction ends with Timer J (64·T1 on UDP).
	mux.HandleFunc("LINGER", func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
		wait(ctx)
	})
	// Answers, returns, and a goroutine it started looks at ctx only later.
	mux.HandleFunc("LATE", func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
		go func() { time.Sleep(20 * time.Millisecond); wait(ctx) }()
	})
	// Answers and outlives its transaction without touching ctx; a
	// goroutine it started looks at ctx after it returned.
	mux.HandleFunc("SLEEPY", func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
		time.Sleep(64*fastTimers.T1 + 300*time.Millisecond)
		go wait(ctx)
	})
	// Rings and waits for the CANCEL without touching ctx until it came.
	canceled := make(chan struct{})
	mux.HandleFunc(sip.INVITE, func(ctx context.Context, w ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusRinging))
		<-canceled
		wait(ctx)
	})
	cancelAnswered := make(chan struct{}, 1)
	_, addr := newServer(t, mux, transport.UDP, func(s *Server) {
		s.Tap = func(e transport.TapEvent) {
			if e.Direction == transport.Outbound && bytes.HasPrefix(e.Data, []byte("SIP/2.0 200")) && bytes.Contains(e.Data, []byte(" CANCEL\r\n")) {
				select {
				case cancelAnswered <- struct{}{}:
				default:
				}
			}
		}
	})
	c := newClient(t)
	check := func(name string, want error) {
		t.Helper()
		select {
		case o := <-got:
			if !errors.Is(o.cause, want) || !errors.Is(o.derived, want) {
				t.Errorf("%s: cause %v, derived cause %v; want %v", name, o.cause, o.derived, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: context never ended", name)
		}
	}
	for _, m := range []sip.Method{"LINGER", "LATE", "SLEEPY"} {
		if res, err := c.Do(t.Context(), request(m, addr)); err != nil || res.StatusCode != sip.StatusOK {
			t.Fatalf("%s: %v %v", m, res, err)
		}
	}
	check("LATE", context.Canceled) // the handler returned first
	start := time.Now()
	check("LINGER", transaction.ErrTerminated)
	if d := time.Since(start); d < 64*fastTimers.T1/2 {
		t.Errorf("LINGER: context ended after %v, before Timer J", d)
	}
	check("SLEEPY", transaction.ErrTerminated) // the transaction ended first

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := c.Do(ctx, request(sip.INVITE, addr), WithProvisional(func(r *sip.Response) {
			if r.StatusCode == sip.StatusRinging {
				cancel()
			}
		}))
		if res == nil || res.StatusCode != sip.StatusRequestTerminated {
			t.Errorf("INVITE: %v %v, want 487", res, err)
		}
	}()
	// Let the CANCEL arrive before the handler first looks at ctx.
	select {
	case <-cancelAnswered:
	case <-time.After(5 * time.Second):
		t.Fatal("CANCEL not answered")
	}
	time.Sleep(20 * time.Millisecond)
	close(canceled)
	check("INVITE", ErrCanceled)
	<-done
}

// TestDoVia checks the top Via Do adds: a new branch with the magic cookie
// and one empty rport (RFC 3581 §3), which the server fills in (§4).
func TestDoVia(t *testing.T) {
	vias := make(chan sip.Via, 1)
	_, addr := newServer(t, HandlerFunc(func(_ context.Context, w ResponseWriter, r *sip.Request) {
		vias <- *r.TopVia()
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}), transport.UDP)
	c := newClient(t)
	if _, err := c.Do(t.Context(), request(sip.OPTIONS, addr), WithDest(transport.Dest{Network: transport.UDP, Addr: addr})); err != nil {
		t.Fatal(err)
	}
	v := <-vias
	if !v.RFC3261Branch() || len(v.Branch()) != len(sip.MagicCookie)+16 {
		t.Errorf("branch %q", v.Branch())
	}
	if n := strings.Count(string(v.Params), ";rport"); n != 1 {
		t.Errorf("Via params %q: %d rport, want 1", v.Params, n)
	}
	if rp, ok := v.RPort(); !ok || rp == 0 {
		t.Errorf("Via params %q: rport not filled in", v.Params)
	}
}

// TestWorkersEnd checks that the goroutines kept for reuse between
// handlers end with the Server, and that many concurrent requests are all
// served.
func TestWorkersEnd(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	h := HandlerFunc(func(_ context.Context, w ResponseWriter, r *sip.Request) {
		started.Add(1)
		<-release
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	s := &Server{Handler: h, Timers: fastTimers}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := c.Do(t.Context(), request(sip.OPTIONS, ln.Addr()), WithDest(transport.Dest{Network: transport.UDP, Addr: ln.Addr()}))
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Errorf("Do = %v, %v", res, err)
			}
		})
	}
	for deadline := time.Now().Add(5 * time.Second); started.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release) // n handlers ran at once: n workers, now idle
	wg.Wait()
	if got := workers(); got == 0 {
		t.Error("no idle worker kept")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); workers() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := workers(); got > 0 {
		t.Errorf("%d workers left after Shutdown", got)
	}
}

// workers counts the goroutines in Server.worker.
func workers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "stack.(*Server).worker(")
}
