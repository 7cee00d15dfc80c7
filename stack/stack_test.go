package stack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
// ErrCanceled, and the INVITE gets 487 (§9.2).
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
		if !errors.Is(got, ErrCanceled) {
			t.Errorf("handler ctx cause = %v", got)
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
