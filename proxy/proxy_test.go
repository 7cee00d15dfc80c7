package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleysip/parley/internal/dnstest"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

var fastTimers = transaction.Timers{T1: 20 * time.Millisecond, T2: 80 * time.Millisecond, T4: 100 * time.Millisecond}

// serve starts a stack.Server on a loopback UDP socket bound beforehand, so
// that h can be built knowing the address before the first request.
func serve(t *testing.T, build func(srv *stack.Server, addr netip.AddrPort) stack.Handler) (*stack.Server, netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	srv := &stack.Server{Timers: fastTimers}
	srv.Handler = build(srv, addr)
	if _, err := srv.ServePacket(pc); err != nil {
		t.Fatal(err)
	}
	// Close, not Shutdown: Shutdown's WaitGroup.Wait races (for the race
	// detector) with a request arriving meanwhile, which forking tests
	// make likely (stack.Server.serve calls wg.Add).
	t.Cleanup(func() { _ = srv.Close() })
	return srv, addr
}

// uas starts a user agent server running h.
func uas(t *testing.T, h stack.HandlerFunc) (*stack.Server, netip.AddrPort) {
	return serve(t, func(*stack.Server, netip.AddrPort) stack.Handler { return h })
}

func uri(user string, a netip.AddrPort) sip.URI {
	return sip.URI{Scheme: "sip", User: user, Host: a.Addr().String(), Port: a.Port()}
}

type env struct {
	t     *testing.T
	p     *Proxy
	srv   *stack.Server
	addr  netip.AddrPort
	uac   *stack.Client
	uaSrv *stack.Server
}

// newProxy starts a proxy with router (configured further by cfg) and a
// UAC server.
func newProxy(t *testing.T, router Router, cfg ...func(*Proxy)) *env {
	t.Helper()
	e := &env{t: t}
	e.srv, e.addr = serve(t, func(srv *stack.Server, addr netip.AddrPort) stack.Handler {
		rr := uri("", addr)
		e.p = &Proxy{
			Client:      &stack.Client{Server: srv},
			Router:      router,
			RecordRoute: &rr,
			Domains:     []string{"example.com"},
			TimerC:      5 * time.Second,
		}
		for _, f := range cfg {
			f(e.p)
		}
		srv.OnAck = e.p.ForwardAck
		srv.OnResponse = e.p.ForwardResponse
		return e.p
	})
	e.uaSrv, _ = uas(t, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusNotImplemented))
	})
	e.uac = &stack.Client{Server: e.uaSrv}
	return e
}

func newRequest(method sip.Method, ruri sip.URI) *sip.Request {
	r := sip.NewRequest(method, ruri)
	r.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.Params(";tag=" + sip.NewTag())})
	r.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}})
	r.SetCallID(sip.NewCallID("test"))
	r.SetCSeq(sip.CSeq{Seq: 1, Method: method})
	r.SetMaxForwards(70)
	return r
}

// do sends req to the proxy from the UAC.
func (e *env) do(ctx context.Context, req *sip.Request, opts ...stack.Option) (*sip.Response, error) {
	opts = append(opts, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: e.addr}))
	return e.uac.Do(ctx, req, opts...)
}

func fixed(ts ...Target) Router {
	return RouterFunc(func(context.Context, *sip.Request) ([]Target, sip.StatusCode, error) {
		return slices.Clone(ts), 0, nil
	})
}

func noRouter(t *testing.T) Router {
	return RouterFunc(func(context.Context, *sip.Request) ([]Target, sip.StatusCode, error) {
		t.Error("router consulted")
		return nil, sip.StatusNotFound, nil
	})
}

// answer returns a UAS handler that sends codes in order with one To tag,
// pausing between them.
func answer(pause time.Duration, codes ...sip.StatusCode) stack.HandlerFunc {
	return func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		tag := sip.NewTag()
		for i, c := range codes {
			if i > 0 {
				select {
				case <-time.After(pause):
				case <-ctx.Done():
					return
				}
			}
			res := sip.NewResponse(r, c)
			res.SetToTag(tag)
			if c > 100 && c < 300 {
				// §12.1.1: the UAS copies Record-Route into responses
				// that create a dialog.
				for v := range r.Values("Record-Route") {
					_ = res.Add("Record-Route", v)
				}
			}
			_ = w.Respond(res)
		}
	}
}

// ringForever rings and waits to be cancelled; cancelled reports the
// cause.
func ringForever(cancelled chan<- error) stack.HandlerFunc {
	return func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		res := sip.NewResponse(r, sip.StatusRinging)
		_ = w.Respond(res)
		select {
		case <-ctx.Done():
			cancelled <- context.Cause(ctx)
		case <-time.After(10 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	}
}

func TestInviteRecordRouteAndVias(t *testing.T) {
	got := make(chan *sip.Request, 1)
	acks := make(chan *sip.Request, 1)
	_, uasAddr := serve(t, func(srv *stack.Server, _ netip.AddrPort) stack.Handler {
		srv.OnAck = func(ack *sip.Request, _ transport.Flow) { acks <- ack }
		return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			got <- r
			answer(20*time.Millisecond, sip.StatusRinging, sip.StatusOK)(ctx, w, r)
		})
	})
	var events []BranchEventKind
	var mu sync.Mutex
	e := newProxy(t, fixed(Target{URI: uri("bob", uasAddr)}), func(p *Proxy) {
		p.OnBranch = func(ev BranchEvent) { mu.Lock(); events = append(events, ev.Kind); mu.Unlock() }
	})
	req := newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
	var provisional []sip.StatusCode
	res, err := e.do(t.Context(), req, stack.WithProvisional(func(r *sip.Response) {
		provisional = append(provisional, r.StatusCode)
		if r.StatusCode != sip.StatusTrying && len(r.Vias()) != 1 {
			t.Errorf("provisional Vias %v", r.Vias())
		}
	}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if !slices.Contains(provisional, sip.StatusRinging) {
		t.Errorf("provisional %v, want a 180", provisional)
	}
	if vs := res.Vias(); len(vs) != 1 || vs[0].Branch() != req.TopVia().Branch() {
		t.Errorf("response Vias %v", vs)
	}
	rrs := res.RecordRoutes()
	if len(rrs) != 1 || rrs[0].URI.Port != e.addr.Port() || !rrs[0].URI.Params.Has("lr") {
		t.Errorf("Record-Route %v", rrs)
	}
	fwd := <-got
	if mf, _ := fwd.MaxForwards(); mf != 69 {
		t.Errorf("Max-Forwards %d", mf)
	}
	if !fwd.URI.Equal(&sip.URI{Scheme: "sip", User: "bob", Host: uasAddr.Addr().String(), Port: uasAddr.Port()}) {
		t.Errorf("Request-URI %v", fwd.URI)
	}
	vs := fwd.Vias()
	if len(vs) != 2 || vs[1].Branch() != req.TopVia().Branch() || !strings.Contains(vs[0].Branch(), ".") || vs[0].Port != e.addr.Port() {
		t.Errorf("forwarded Vias %v", vs)
	}
	if len(fwd.RecordRoutes()) != 1 {
		t.Errorf("forwarded Record-Route %v", fwd.RecordRoutes())
	}

	// The ACK for the 2xx follows the route set (§12.2.1.1) through the
	// proxy, which forwards it statelessly.
	ack := sip.NewRequest(sip.ACK, uri("bob", uasAddr))
	ack.SetFrom(*req.From())
	ack.SetTo(*res.To())
	ack.SetCallID(req.CallID())
	ack.SetCSeq(sip.CSeq{Seq: 1, Method: sip.ACK})
	ack.SetMaxForwards(70)
	ack.PrependRoute(rrs[0])
	if _, err := e.uac.SendAck(t.Context(), ack, transport.Dest{Network: transport.UDP, Addr: e.addr}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-acks:
		if len(a.Routes()) != 0 || len(a.Vias()) != 2 {
			t.Errorf("ACK Route %v Via %v", a.Routes(), a.Vias())
		}
		if mf, _ := a.MaxForwards(); mf != 69 {
			t.Errorf("ACK Max-Forwards %d", mf)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ACK not forwarded")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []BranchEventKind{BranchForwarded, BranchProvisional, BranchAnswered, BranchEnded} {
		if !slices.Contains(events, k) {
			t.Errorf("events %v lack %v", events, k)
		}
	}
}

func TestValidation(t *testing.T) {
	_, uasAddr := uas(t, answer(0, sip.StatusOK))
	e := newProxy(t, fixed(Target{URI: uri("bob", uasAddr)}), func(p *Proxy) { p.Supported = []string{"bar"} })
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}

	req := newRequest(sip.MESSAGE, ruri)
	req.SetMaxForwards(0)
	if res, err := e.do(t.Context(), req); err != nil || res.StatusCode != sip.StatusTooManyHops {
		t.Errorf("Max-Forwards 0: %v, %v", res, err)
	}

	req = newRequest(sip.MESSAGE, ruri)
	_ = req.Add("Proxy-Require", "foo, bar")
	res, err := e.do(t.Context(), req)
	if err != nil || res.StatusCode != sip.StatusBadExtension || res.Get("Unsupported") != "foo" {
		t.Errorf("Proxy-Require: %v, %v", res, err)
	}

	req = newRequest(sip.MESSAGE, ruri)
	req.Del("Max-Forwards")
	if res, err := e.do(t.Context(), req); err != nil || res.StatusCode != sip.StatusOK {
		t.Errorf("no Max-Forwards: %v, %v", res, err)
	}
}

func TestMaxForwardsAdded(t *testing.T) {
	got := make(chan int, 1)
	_, uasAddr := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		mf, ok := r.MaxForwards()
		if !ok {
			mf = -1
		}
		got <- mf
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	e := newProxy(t, fixed(Target{URI: uri("bob", uasAddr)}))
	for _, tc := range []struct{ in, want int }{{-1, 70}, {5, 4}} {
		req := newRequest(sip.OPTIONS, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
		if tc.in < 0 {
			req.Del("Max-Forwards")
		} else {
			req.SetMaxForwards(tc.in)
		}
		if res, err := e.do(t.Context(), req); err != nil || res.StatusCode != 200 {
			t.Fatalf("%v, %v", res, err)
		}
		if mf := <-got; mf != tc.want {
			t.Errorf("Max-Forwards %d forwarded as %d, want %d", tc.in, mf, tc.want)
		}
	}
}

func TestLoopAndSpiral(t *testing.T) {
	_, uasAddr := uas(t, answer(0, sip.StatusOK))
	e := newProxy(t, RouterFunc(func(_ context.Context, r *sip.Request) ([]Target, sip.StatusCode, error) {
		switch r.URI.User {
		case "loop": // back to the proxy, unchanged: a loop
			return []Target{{URI: r.URI}}, 0, nil
		case "spiral": // back to the proxy as another user: a spiral
			u := r.URI
			u.User = "bob"
			return []Target{{URI: u}}, 0, nil
		}
		return []Target{{URI: uri("bob", uasAddr)}}, 0, nil
	}))
	res, err := e.do(t.Context(), newRequest(sip.MESSAGE, uri("loop", e.addr)))
	if err != nil || res.StatusCode != sip.StatusLoopDetected {
		t.Errorf("loop: %v, %v", res, err)
	}
	res, err = e.do(t.Context(), newRequest(sip.MESSAGE, uri("spiral", e.addr)))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Errorf("spiral: %v, %v", res, err)
	}
}

func TestParallelFork(t *testing.T) {
	cancelled := make(chan error, 1)
	_, a := uas(t, answer(100*time.Millisecond, sip.StatusRinging, sip.StatusOK))
	_, b := uas(t, ringForever(cancelled))
	var kinds sync.Map
	e := newProxy(t, fixed(Target{URI: uri("a", a), Q: 1000}, Target{URI: uri("b", b), Q: 500}), func(p *Proxy) {
		p.Parallel = true
		p.OnBranch = func(ev BranchEvent) {
			if ev.Kind == BranchCancelled {
				kinds.Store(ev.Target.URI.User, ev.Err)
			}
		}
	})
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	select {
	case err := <-cancelled:
		var ce *stack.CancelError
		if !errors.As(err, &ce) {
			t.Fatalf("branch b ended with %v, want a CANCEL", err)
		}
		// RFC 3326: the other phone stops ringing without a missed call.
		if r := ce.Request.Get("Reason"); r != `SIP;cause=200;text="Call completed elsewhere"` {
			t.Errorf("CANCEL Reason %q", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("branch b not cancelled")
	}
	if why, _ := kinds.Load("b"); !errors.Is(why.(error), ErrAnswered) {
		t.Errorf("cancel event for b: %v", why)
	}
}

func TestSequentialFork(t *testing.T) {
	var order []string
	var mu sync.Mutex
	h := func(name string, code sip.StatusCode) stack.HandlerFunc {
		return func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			answer(10*time.Millisecond, sip.StatusRinging, code)(ctx, w, r)
		}
	}
	_, a := uas(t, h("a", sip.StatusBusyHere))
	_, b := uas(t, h("b", sip.StatusOK))
	// Listed low q first: the proxy orders by q.
	e := newProxy(t, fixed(Target{URI: uri("b", b), Q: 500}, Target{URI: uri("a", a), Q: 1000}))
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"a", "b"}) {
		t.Errorf("order %v", order)
	}
}

func TestSixxxCancelsOthers(t *testing.T) {
	cancelled := make(chan error, 1)
	_, a := uas(t, answer(150*time.Millisecond, sip.StatusRinging, sip.StatusDecline))
	_, b := uas(t, ringForever(cancelled))
	called := atomic.Bool{}
	_, c := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		called.Store(true)
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	// a and b in parallel (equal q), c later: never tried after a 6xx.
	e := newProxy(t, fixed(Target{URI: uri("a", a), Q: 1000}, Target{URI: uri("b", b), Q: 1000}, Target{URI: uri("c", c), Q: 100}))
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusDecline {
		t.Fatalf("Do = %v, %v", res, err)
	}
	select {
	case err := <-cancelled:
		var ce *stack.CancelError
		if !errors.As(err, &ce) || ce.Request.Get("Reason") != `SIP;cause=603;text="Decline"` {
			t.Errorf("branch b: %v, want a CANCEL with the 603 as Reason", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("branch b not cancelled")
	}
	if called.Load() {
		t.Error("a new branch was created after a 6xx")
	}
}

func TestBestResponse(t *testing.T) {
	_, a := uas(t, answer(0, sip.StatusNotFound))
	_, b := uas(t, answer(0, sip.StatusBusyHere))
	_, c := uas(t, answer(0, sip.StatusServiceUnavailable))
	e := newProxy(t, RouterFunc(func(_ context.Context, r *sip.Request) ([]Target, sip.StatusCode, error) {
		if r.URI.User == "unavailable" {
			return []Target{{URI: uri("c", c)}}, 0, nil
		}
		return []Target{{URI: uri("a", a)}, {URI: uri("b", b)}}, 0, nil
	}), func(p *Proxy) { p.Parallel = true })
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || (res.StatusCode != sip.StatusNotFound && res.StatusCode != sip.StatusBusyHere) {
		t.Errorf("404 vs 486: %v, %v", res, err)
	}
	res, err = e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "unavailable", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusServerInternalError {
		t.Errorf("503: %v, %v", res, err)
	}
}

func TestBestChoice(t *testing.T) {
	r := func(code sip.StatusCode) *sip.Response {
		res := sip.NewResponse(newRequest(sip.INVITE, sip.URI{Scheme: "sip", Host: "example.com"}), code)
		return res
	}
	for _, tc := range []struct {
		in   []sip.StatusCode
		want sip.StatusCode
	}{
		{nil, 0},
		{[]sip.StatusCode{404, 486}, 404},
		{[]sip.StatusCode{486, 401}, 401},
		{[]sip.StatusCode{500, 404, 302}, 302},
		{[]sip.StatusCode{404, 603, 302}, 603},
		{[]sip.StatusCode{503}, 500},
		{[]sip.StatusCode{503, 480}, 480},
		{[]sip.StatusCode{408, 484}, 484},
	} {
		var finals []*sip.Response
		for _, c := range tc.in {
			finals = append(finals, r(c))
		}
		got := best(finals)
		if (got == nil) != (tc.want == 0) || got != nil && got.StatusCode != tc.want {
			t.Errorf("best(%v) = %v, want %d", tc.in, got, tc.want)
		}
	}
}

func TestAuthAggregation(t *testing.T) {
	challenge := func(code sip.StatusCode, name, realm string) stack.HandlerFunc {
		return func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
			res := sip.NewResponse(r, code)
			_ = res.Add(name, `Digest realm="`+realm+`", nonce="n`+realm+`"`)
			_ = w.Respond(res)
		}
	}
	_, a := uas(t, challenge(401, "WWW-Authenticate", "a"))
	_, b := uas(t, challenge(407, "Proxy-Authenticate", "b"))
	_, c := uas(t, challenge(401, "WWW-Authenticate", "c"))
	e := newProxy(t, fixed(Target{URI: uri("a", a)}, Target{URI: uri("b", b)}, Target{URI: uri("c", c)}), func(p *Proxy) { p.Parallel = true })
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || (res.StatusCode != 401 && res.StatusCode != 407) {
		t.Fatalf("Do = %v, %v", res, err)
	}
	www := slices.Collect(res.Values("WWW-Authenticate"))
	pa := slices.Collect(res.Values("Proxy-Authenticate"))
	if len(www) != 2 || len(pa) != 1 {
		t.Errorf("WWW-Authenticate %q, Proxy-Authenticate %q", www, pa)
	}
}

func TestCancelFromUAC(t *testing.T) {
	cancelled := make(chan error, 1)
	_, a := uas(t, ringForever(cancelled))
	e := newProxy(t, fixed(Target{URI: uri("a", a)}))
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	const reason = `Q.850;cause=16;text="Terminated"`
	res, err := e.do(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}),
		stack.WithProvisional(func(r *sip.Response) {
			if r.StatusCode == sip.StatusRinging {
				cancel(stack.WithCancelReason(errors.New("hung up"), reason))
			}
		}))
	if res == nil || res.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("Do = %v, %v", res, err)
	}
	select {
	case err := <-cancelled:
		// The UAC's CANCEL carried a Reason (stack.WithCancelReason);
		// the proxy's CANCEL passes it on (RFC 3326).
		var ce *stack.CancelError
		if !errors.As(err, &ce) || ce.Request.Get("Reason") != reason {
			t.Errorf("branch: %v, want a CANCEL with Reason %s", err, reason)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("branch not cancelled")
	}
}

func TestTimerC(t *testing.T) {
	cancelled := make(chan error, 1)
	_, a := uas(t, ringForever(cancelled))
	var why atomic.Value
	e := newProxy(t, fixed(Target{URI: uri("a", a)}), func(p *Proxy) {
		p.TimerC = 300 * time.Millisecond
		p.OnBranch = func(ev BranchEvent) {
			if ev.Kind == BranchCancelled {
				why.Store(ev.Err)
			}
		}
	})
	start := time.Now()
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusRequestTimeout {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v, before Timer C", d)
	}
	if <-cancelled == nil {
		t.Error("branch not cancelled")
	}
	if why.Load() != ErrTimerC {
		t.Errorf("cancel reason %v", why.Load())
	}
}

func TestTransportError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	target := uri("x", closed)
	target.Params = ";transport=tcp"
	e := newProxy(t, fixed(Target{URI: target}))
	res, err := e.do(t.Context(), newRequest(sip.MESSAGE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	// §16.9: a 503, forwarded as 500 (§16.7 step 6).
	if err != nil || res.StatusCode != sip.StatusServerInternalError {
		t.Fatalf("Do = %v, %v", res, err)
	}
}

func TestLooseRoute(t *testing.T) {
	got := make(chan *sip.Request, 1)
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	e := newProxy(t, noRouter(t))
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.net"}
	req := newRequest(sip.MESSAGE, ruri)
	me := uri("", e.addr)
	me.Params = ";lr"
	next := uri("", a)
	next.Params = ";lr"
	req.PrependRoute(sip.NameAddr{URI: next})
	req.PrependRoute(sip.NameAddr{URI: me})
	res, err := e.do(t.Context(), req)
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	fwd := <-got
	if !fwd.URI.Equal(&ruri) {
		t.Errorf("Request-URI %v", fwd.URI)
	}
	if rs := fwd.Routes(); len(rs) != 1 || rs[0].URI.Port != a.Port() {
		t.Errorf("Route %v", rs)
	}

	// A Route naming a local domain is ours too, and is removed.
	req = newRequest(sip.MESSAGE, ruri)
	req.PrependRoute(sip.NameAddr{URI: next})
	req.PrependRoute(sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: "example.com", Params: ";lr"}})
	if res, err := e.do(t.Context(), req); err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if rs := (<-got).Routes(); len(rs) != 1 {
		t.Errorf("Route %v", rs)
	}
}

func TestStrictRouterUpstream(t *testing.T) {
	got := make(chan *sip.Request, 1)
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	e := newProxy(t, noRouter(t))
	// §16.4: a strict router put our Record-Route URI in the Request-URI and
	// the remote target last in Route.
	req := newRequest(sip.BYE, uri("", e.addr))
	req.PrependRoute(sip.NameAddr{URI: uri("bob", a)})
	res, err := e.do(t.Context(), req)
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	fwd := <-got
	if want := uri("bob", a); !fwd.URI.Equal(&want) || len(fwd.Routes()) != 0 {
		t.Errorf("forwarded %v with Route %v", fwd.URI, fwd.Routes())
	}
}

func TestStrictRouterDownstream(t *testing.T) {
	got := make(chan *sip.Request, 1)
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	e := newProxy(t, noRouter(t))
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.net"}
	req := newRequest(sip.MESSAGE, ruri)
	loose := sip.URI{Scheme: "sip", Host: "192.0.2.1", Params: ";lr"}
	req.PrependRoute(sip.NameAddr{URI: loose})
	req.PrependRoute(sip.NameAddr{URI: uri("", a)}) // a strict router
	res, err := e.do(t.Context(), req)
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	fwd := <-got
	rs := fwd.Routes()
	if want := uri("", a); !fwd.URI.Equal(&want) || len(rs) != 2 || !rs[1].URI.Equal(&ruri) {
		t.Errorf("forwarded %v with Route %v", fwd.URI, rs)
	}
}

func TestLocationRouter(t *testing.T) {
	ctx := t.Context()
	store := location.NewMemory(location.MemoryOptions{})
	t.Cleanup(func() { store.Close() })
	got := make(chan *sip.Request, 2)
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		answer(0, sip.StatusBusyHere)(ctx, w, r)
	})
	_, edge := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		answer(0, sip.StatusOK)(ctx, w, r)
	})
	edgeURI := uri("", edge)
	edgeURI.Params = ";lr"
	aor, _ := location.CanonicalAoR(sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
	_, err := store.Update(ctx, aor, func(rec *location.Record) error {
		exp := time.Now().Add(time.Hour)
		rec.Bindings = append(rec.Bindings,
			location.Binding{Contact: sip.Contact{NameAddr: sip.NameAddr{URI: uri("bob", a)}}, Q: 1000, Expires: exp},
			location.Binding{Contact: sip.Contact{NameAddr: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "bob", Host: "198.51.100.9"}}}, Q: 500, Expires: exp,
				Path: []string{"<" + edgeURI.String() + ">"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	router := LocationRouter(store, []string{"example.com"})

	// Unit: targets with q and Path; foreign domains; unknown users.
	ts, _, err := router.Targets(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "EXAMPLE.com"}))
	if err != nil || len(ts) != 2 {
		t.Fatalf("targets %v, %v", ts, err)
	}
	if ts[0].Q != 1000 || ts[1].Q != 500 || len(ts[1].Path) != 1 || ts[1].Path[0].URI.Port != edge.Port() {
		t.Errorf("targets %+v", ts)
	}
	foreign := sip.URI{Scheme: "sip", User: "carol", Host: "example.org"}
	if ts, _, _ := router.Targets(ctx, newRequest(sip.INVITE, foreign)); len(ts) != 1 || !ts[0].URI.Equal(&foreign) {
		t.Errorf("foreign targets %v", ts)
	}
	if ts, code, err := router.Targets(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "nobody", Host: "example.com"})); len(ts) != 0 || code != 404 || err != nil {
		t.Errorf("unknown user: %v %d %v", ts, code, err)
	}

	// Through the proxy: a (q=1) answers 486, then the second binding is
	// reached through its Path (the "edge" answers 200).
	e := newProxy(t, router)
	res, err := e.do(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if first := <-got; first.URI.Port != a.Port() {
		t.Errorf("first branch to %v", first.URI)
	}
	second := <-got
	if second.URI.Host != "198.51.100.9" || len(second.Routes()) != 1 {
		t.Errorf("second branch to %v Route %v", second.URI, second.Routes())
	}
	res, err = e.do(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "nobody", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusNotFound {
		t.Errorf("unknown user through the proxy: %v, %v", res, err)
	}
}

func TestOrder(t *testing.T) {
	p := &Proxy{}
	ts := []Target{{Q: 500}, {Q: 1000}, {Q: 500}, {Q: 0}}
	g := p.order(ts)
	if len(g) != 3 || len(g[0]) != 1 || g[0][0].Q != 1000 || len(g[1]) != 2 || g[2][0].Q != 0 {
		t.Errorf("groups %v", g)
	}
	p.Parallel = true
	if g := p.order(ts); len(g) != 1 || len(g[0]) != 4 {
		t.Errorf("parallel groups %v", g)
	}
}

func TestCancelBeforeProvisional(t *testing.T) {
	cancelled := make(chan error, 1)
	// The UAS sends nothing itself: only its transaction's 100 Trying.
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		select {
		case <-ctx.Done():
			cancelled <- context.Cause(ctx)
		case <-time.After(10 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	})
	e := newProxy(t, fixed(Target{URI: uri("a", a)}))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	res, err := e.do(ctx, newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if res == nil || res.StatusCode != sip.StatusRequestTerminated {
		t.Fatalf("Do = %v, %v", res, err)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, stack.ErrCanceled) {
			t.Errorf("branch: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("branch not cancelled")
	}
}

func TestBranchParameters(t *testing.T) {
	p := &Proxy{}
	r := newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
	h := p.loopHash(r)
	if len(h) != loopHashLen || p.loopHash(r.Clone()) != h {
		t.Fatalf("loop hash %q not stable", h)
	}
	// Fields that change routing change the hash (a spiral, not a loop).
	r2 := r.Clone()
	r2.URI.User = "carol"
	r3 := r.Clone()
	_ = r3.Add("Proxy-Require", "foo")
	r4 := r.Clone()
	r4.SetMaxForwards(3) // not part of it
	if p.loopHash(r2) == h || p.loopHash(r3) == h || p.loopHash(r4) != h {
		t.Error("loop hash depends on the wrong fields")
	}
	// Another proxy computes another hash for the same request.
	if (&Proxy{}).loopHash(r) == h {
		t.Error("loop hash not keyed")
	}
	c, branch, strict := p.forwardCopy(r, Target{URI: sip.URI{Scheme: "sip", User: "bob", Host: "192.0.2.1", Headers: "subject=x", Params: ";method=INVITE;transport=tcp"}}, false, h)
	if strict || !ourBranch(branch) || c.TopVia().Branch() != branch || !strings.HasSuffix(branch, loopSep+h) {
		t.Errorf("branch %q strict %v", branch, strict)
	}
	if c.URI.Headers != "" || c.URI.Params.Has("method") || !c.URI.Params.Has("transport") {
		t.Errorf("Request-URI %v", c.URI)
	}
	_, branch2, _ := p.forwardCopy(r, Target{URI: c.URI}, false, h)
	if branch2 == branch {
		t.Error("branch not unique per branch")
	}
	if ourBranch(sip.NewBranch()) || ourBranch("z9hG4bK.xyz") {
		t.Error("foreign branch taken for ours")
	}
	if b := p.statelessBranch(r); b != p.statelessBranch(r.Clone()) || !strings.HasPrefix(b, sip.MagicCookie) {
		t.Errorf("stateless branch %q not stable", b)
	}
}

func TestLater2xxForwarded(t *testing.T) {
	// Downstream forks: one UAS transaction yields two 2xx (RFC 6026); the
	// second reaches the proxy's client transaction in its Accepted state.
	_, forker := serve(t, func(srv *stack.Server, _ netip.AddrPort) stack.Handler {
		return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			first := sip.NewResponse(r, sip.StatusOK)
			_ = w.Respond(first)
			second := sip.NewResponse(r, sip.StatusOK)
			second.SetToTag("second")
			_ = srv.RespondStateless(ctx, second, w.(stack.FlowWriter).Flow())
		})
	})
	// Parallel branches both answering 200: the slower one's 2xx comes
	// after the proxy sent its final (the CANCEL waits for a provisional
	// that never comes).
	_, fast := uas(t, answer(0, sip.StatusOK))
	_, slow := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		time.Sleep(60 * time.Millisecond)
		res := sip.NewResponse(r, sip.StatusOK)
		res.SetToTag("slow")
		_ = w.Respond(res)
	})
	e := newProxy(t, RouterFunc(func(_ context.Context, r *sip.Request) ([]Target, sip.StatusCode, error) {
		if r.URI.User == "fork" {
			return []Target{{URI: uri("f", forker)}}, 0, nil
		}
		return []Target{{URI: uri("fast", fast)}, {URI: uri("slow", slow)}}, 0, nil
	}), func(p *Proxy) { p.Parallel = true })
	for _, tc := range []struct{ user, tag string }{{"fork", "second"}, {"bob", "slow"}} {
		t.Run(tc.user, func(t *testing.T) {
			later := make(chan *sip.Response, 4)
			res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: tc.user, Host: "example.com"}),
				stack.WithAfterFinal(func(r *sip.Response) { later <- r }))
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("Do = %v, %v", res, err)
			}
			select {
			case r := <-later:
				// The forker's two 200s may cross on UDP: Do returns one,
				// the later one is the other, and one of them is tc.tag.
				first, second := res.To().Tag(), r.To().Tag()
				if r.StatusCode != sip.StatusOK || first == second || (first != tc.tag && second != tc.tag) || len(r.Vias()) != 1 {
					t.Errorf("final with To tag %q, later response %v; want the one tagged %q among them", first, r, tc.tag)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("later 2xx not forwarded")
			}
		})
	}
}

func TestMAddrTarget(t *testing.T) {
	got := make(chan *sip.Request, 1)
	_, a := uas(t, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	e := newProxy(t, noRouter(t))
	// §16.5: a Request-URI with maddr is the only target.
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.net", Port: a.Port(), Params: ";maddr=127.0.0.1"}
	res, err := e.do(t.Context(), newRequest(sip.MESSAGE, ruri))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if fwd := <-got; !fwd.URI.Equal(&ruri) {
		t.Errorf("Request-URI %v", fwd.URI)
	}
}

func TestForwardOverTCP(t *testing.T) {
	got := make(chan *sip.Request, 1)
	srv := &stack.Server{Timers: fastTimers, Handler: stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		answer(0, sip.StatusRinging, sip.StatusOK)(ctx, w, r)
	})}
	ln, err := srv.Listen(t.Context(), transport.TCP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	target := uri("bob", ln.Addr())
	target.Params = ";transport=tcp"
	e := newProxy(t, fixed(Target{URI: target}))
	res, err := e.do(t.Context(), newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}))
	if err != nil || res.StatusCode != sip.StatusOK || len(res.Vias()) != 1 {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if v := (<-got).TopVia(); v.Transport != "TCP" {
		t.Errorf("proxy Via %v", v)
	}
}

// TestRetryBranch: a request sent again to the next address of a target
// gets a new branch that keeps the loop-detection hash (§16.6 step 8), so
// that a loop through a failed-over hop is still detected.
func TestRetryBranch(t *testing.T) {
	hash := strings.Repeat("a1", loopHashLen/2)
	first := sip.NewBranch() + loopSep + hash
	next := retryBranch(first)
	if next == first || !ourBranch(next) || !strings.HasSuffix(next, loopSep+hash) {
		t.Fatalf("retryBranch(%q) = %q, want a new branch with the same loop hash", first, next)
	}
	if other := retryBranch("z9hG4bKforeign"); other == "z9hG4bKforeign" || !strings.HasPrefix(other, sip.MagicCookie) {
		t.Fatalf("retryBranch of a foreign branch = %q", other)
	}
}

// TestFailoverWhenBridging: a proxy listening on UDP and TCP resolves each
// next hop itself, to record-route for the outgoing transport (RFC 5658);
// it still fails over between the addresses RFC 3263 gives for that
// transport (§4.3). The target's SRV records list a TCP port where nothing
// listens first, then the UAS: the request reaches the UAS.
func TestFailoverWhenBridging(t *testing.T) {
	got, uasAddr := tcpUAS(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close() // connections to it are refused
	ns := dnstest.Serve(t,
		fmt.Sprintf("_sip._tcp.svc.test. 60 IN SRV 0 1 %d dead.svc.test.", deadPort),
		fmt.Sprintf("_sip._tcp.svc.test. 60 IN SRV 1 1 %d live.svc.test.", uasAddr.Port()),
		"dead.svc.test. 60 IN A 127.0.0.1",
		"live.svc.test. 60 IN A 127.0.0.1")

	target := sip.URI{Scheme: "sip", User: "bob", Host: "svc.test", Params: ";transport=tcp"}
	_, tcpURI := bridgingMessage(t, ns, fixed(Target{URI: target, Q: 1000}))
	r := <-got
	if rr := r.RecordRoutes(); len(rr) != 2 || !sameURI(&rr[0].URI, &tcpURI) {
		t.Errorf("Record-Route at the UAS %v, want the TCP interface on top", rr)
	}
}

// TestParallelForkStartsEveryBranch: every branch of a group of equal q
// is created before any is sent (§16.6, a parallel search), so a first
// target answering 200 at once does not end the search before the second
// one, whose next hop takes 300 ms to resolve, has been started.
func TestParallelForkStartsEveryBranch(t *testing.T) {
	_, fastAddr := uas(t, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	slowGot, slowAddr := tcpUAS(t)
	ns := dnstest.ServeSlow(t, 300*time.Millisecond, "slow.test. 60 IN A 127.0.0.1")

	fast := Target{URI: uri("bob", fastAddr), Q: 500, Dest: &transport.Dest{Network: transport.UDP, Addr: fastAddr}}
	slow := Target{URI: sip.URI{Scheme: "sip", User: "bob", Host: "slow.test", Port: slowAddr.Port(), Params: ";transport=tcp"}, Q: 500}
	// Bridging, the proxy resolves each next hop before sending (for its
	// Record-Route): the second one takes 300 ms.
	bridgingMessage(t, ns, fixed(fast, slow))
	select {
	case <-slowGot:
	case <-time.After(5 * time.Second):
		t.Fatal("the second target of the group never got the request")
	}
}

// bridgingMessage starts a proxy routing with router that listens on UDP
// and TCP (so it bridges transports, resolving next hops itself with the
// DNS server ns), sends it a MESSAGE for bob@example.com over UDP and
// wants a 200. It returns the proxy's UDP and TCP URIs.
func bridgingMessage(t *testing.T, ns string, router Router) (udpURI, tcpURI sip.URI) {
	t.Helper()
	pc, tl, udpURI, tcpURI := udpAndTCP(t)
	psrv := &stack.Server{Timers: fastTimers, Resolver: &resolve.Resolver{Servers: []string{ns}, NoCache: true}}
	p := &Proxy{Client: &stack.Client{Server: psrv}, Router: router,
		RecordRoute: &udpURI, Listeners: []sip.URI{udpURI, tcpURI}, Domains: []string{"example.com"}}
	psrv.Handler = p
	if _, err := psrv.ServePacket(pc); err != nil {
		t.Fatal(err)
	}
	if _, err := psrv.Serve(transport.TCP, tl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = psrv.Close() })
	if !p.bridging() {
		t.Fatal("the proxy does not bridge transports")
	}
	uacSrv, _ := uas(t, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusNotImplemented))
	})
	uac := &stack.Client{Server: uacSrv}
	res, err := uac.Do(t.Context(), newRequest(sip.MESSAGE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}),
		stack.WithDest(transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), udpURI.Port)}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("MESSAGE: %v %v", res, err)
	}
	return udpURI, tcpURI
}

// tcpUAS starts a UAS on TCP that answers every request 200 and passes it
// on the returned channel.
func tcpUAS(t *testing.T) (chan *sip.Request, netip.AddrPort) {
	t.Helper()
	got := make(chan *sip.Request, 4)
	srv := &stack.Server{Timers: fastTimers, Handler: stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		got <- r
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})}
	ln, err := srv.Listen(t.Context(), transport.TCP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return got, ln.Addr()
}
