package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// BenchmarkProxyInvite: one INVITE transaction and its ACK through the
// stateful proxy over loopback UDP (UAC → proxy → UAS answering 200 at
// once). Allocations count all three stacks, not the proxy alone.
//
//	go test -run '^$' -bench Proxy -benchmem ./proxy/
func BenchmarkProxyInvite(b *testing.B) { benchProxy(b, sip.INVITE) }

// BenchmarkProxyMessage is the same for a MESSAGE (no ACK, no Timer C).
func BenchmarkProxyMessage(b *testing.B) { benchProxy(b, sip.MESSAGE) }

func listenUDP(b *testing.B, s *stack.Server) transport.Listener {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ln, err := s.ServePacket(pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return ln
}

func benchProxy(b *testing.B, method sip.Method) {
	uasSrv := &stack.Server{Timers: fastTimers}
	uasSrv.Handler = stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		res := sip.NewResponse(r, sip.StatusOK)
		for v := range r.Values("Record-Route") {
			_ = res.Add("Record-Route", v)
		}
		_ = w.Respond(res)
	})
	uasLn := listenUDP(b, uasSrv)

	psrv := &stack.Server{Timers: fastTimers}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	paddr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	rr := uri("", paddr)
	p := &Proxy{Client: &stack.Client{Server: psrv}, Router: fixed(Target{URI: uri("bob", uasLn.Addr()), Q: 1000}),
		RecordRoute: &rr, Domains: []string{"example.com"}}
	psrv.Handler, psrv.OnAck, psrv.OnResponse = p, p.ForwardAck, p.ForwardResponse
	if _, err := psrv.ServePacket(pc); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = psrv.Close() })

	uacSrv := &stack.Server{Timers: fastTimers}
	listenUDP(b, uacSrv)
	uac := &stack.Client{Server: uacSrv}
	dest := stack.WithDest(transport.Dest{Network: transport.UDP, Addr: paddr})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req := newRequest(method, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
		res, err := uac.Do(ctx, req, dest)
		if err != nil || res.StatusCode != sip.StatusOK {
			b.Fatalf("%v %v", res, err)
		}
		if method == sip.INVITE {
			ack := newRequest(sip.ACK, uri("bob", uasLn.Addr()))
			ack.SetCallID(req.CallID())
			ack.SetFrom(*req.From())
			ack.SetTo(*res.To())
			for _, r := range res.RecordRoutes() {
				_ = ack.Add("Route", r.String())
			}
			if _, err := uac.SendAck(ctx, ack, transport.Dest{Network: transport.UDP, Addr: paddr}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
