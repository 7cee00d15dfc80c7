package proxy

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// udpPeer is a raw UDP socket on loopback standing for a UAC or a UAS, so
// that the test sees every datagram the stateless proxy sends.
type udpPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newPeer(t *testing.T) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &udpPeer{t: t, conn: c}
}

func (u *udpPeer) addr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (u *udpPeer) send(to netip.AddrPort, m interface{ AppendTo([]byte) []byte }) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDPAddrPort(m.AppendTo(nil), to); err != nil {
		u.t.Fatal(err)
	}
}

// recv reads one message within a second; nil if none came.
func (u *udpPeer) recv() sip.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := u.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil
	}
	m, err := sip.Parse(buf[:n])
	if err != nil {
		u.t.Fatalf("unparseable datagram: %v\n%s", err, buf[:n])
	}
	return m
}

func (u *udpPeer) recvRequest() *sip.Request {
	u.t.Helper()
	m := u.recv()
	r, ok := m.(*sip.Request)
	if !ok {
		u.t.Fatalf("want a request, got %v", m)
	}
	return r
}

func (u *udpPeer) recvResponse() *sip.Response {
	u.t.Helper()
	m := u.recv()
	r, ok := m.(*sip.Response)
	if !ok {
		u.t.Fatalf("want a response, got %v", m)
	}
	return r
}

// newStateless starts a stateless proxy on a loopback UDP socket; cfg
// adjusts it before the first message.
func newStateless(t *testing.T, router Router, cfg ...func(*Stateless)) (*Stateless, netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	tp := &transport.Layer{}
	rr := sip.URI{Scheme: "sip", Host: "127.0.0.1", Port: addr.Port()}
	p := &Stateless{Transport: tp, Router: router, Domains: []string{"example.com"}, RecordRoute: &rr}
	for _, f := range cfg {
		f(p)
	}
	tp.Handler = p.HandleIncoming
	if _, err := tp.ServePacket(pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	return p, addr
}

// uacRequest builds a request as sent by the UAC at from, with its Via.
func uacRequest(method sip.Method, ruri sip.URI, from netip.AddrPort, branch string) *sip.Request {
	r := newRequest(method, ruri)
	r.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: ";tag=fromtag"})
	r.SetCallID("stateless-call")
	r.PrependVia(sip.Via{Transport: "UDP", Host: from.Addr().String(), Port: from.Port(), Params: sip.Params(";branch=" + branch)})
	return r
}

// reply builds the UAS's response to req (all its Vias copied).
func reply(req *sip.Request, code sip.StatusCode, body string) *sip.Response {
	res := sip.NewResponse(req, code)
	res.SetToTag("uastag")
	if body != "" {
		res.Body = []byte(body)
		_ = res.Set("Content-Type", "text/plain")
	}
	return res
}

// TestStatelessInviteCancel follows one INVITE through a stateless proxy
// (§16.11): the proxy sends no 100; the forwarded INVITE has the proxy's
// Via with a computed branch, Max-Forwards decremented and Record-Route;
// a retransmission is forwarded again with the same branch and to the same
// target; the CANCEL follows with the INVITE's branch; responses travel
// back by Via with the proxy's Via removed and the body untouched.
func TestStatelessInviteCancel(t *testing.T) {
	uac, uas1, uas2 := newPeer(t), newPeer(t), newPeer(t)
	// Two targets of equal q: one chosen, always the same one.
	targets := []Target{{URI: uri("bob", uas2.addr()), Q: 1000}, {URI: uri("bob", uas1.addr()), Q: 1000}}
	var calls atomic.Int32
	router := RouterFunc(func(context.Context, *sip.Request) ([]Target, sip.StatusCode, error) {
		if calls.Add(1)%2 == 0 { // another order every other time
			return []Target{targets[1], targets[0]}, 0, nil
		}
		return []Target{targets[0], targets[1]}, 0, nil
	})
	_, paddr := newStateless(t, router)
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}
	inv := uacRequest(sip.INVITE, ruri, uac.addr(), "z9hG4bKuac1")
	uac.send(paddr, inv)
	// The chosen one: the smaller URI of equal q.
	want := uas1
	if uri("bob", uas2.addr()).String() < uri("bob", uas1.addr()).String() {
		want = uas2
	}
	got := want.recvRequest()
	vs := got.Vias()
	if len(vs) != 2 || !IsStatelessBranch(vs[0].Branch()) || vs[1].Branch() != "z9hG4bKuac1" {
		t.Fatalf("forwarded Vias %v", vs)
	}
	if mf, _ := got.MaxForwards(); mf != 69 {
		t.Errorf("Max-Forwards %d", mf)
	}
	if rr := got.RecordRoutes(); len(rr) != 1 || rr[0].URI.Port != paddr.Port() || !rr[0].URI.Params.Has("lr") {
		t.Errorf("Record-Route %v", rr)
	}
	if got.URI.Port != want.addr().Port() {
		t.Errorf("Request-URI %v", got.URI)
	}
	branch := vs[0].Branch()

	// §16.11: no 100 of its own.
	if m := uac.recvWithin(100 * time.Millisecond); m != nil {
		t.Fatalf("the stateless proxy sent %v", m)
	}
	// A retransmission: same branch, same target.
	uac.send(paddr, inv)
	again := want.recvRequest()
	if again.TopVia().Branch() != branch {
		t.Errorf("retransmission branch %q, first %q", again.TopVia().Branch(), branch)
	}

	// 180 from the UAS goes back to the UAC without the proxy's Via.
	want.send(paddr, reply(got, sip.StatusRinging, ""))
	ring := uac.recvResponse()
	if ring.StatusCode != sip.StatusRinging || len(ring.Vias()) != 1 || ring.TopVia().Branch() != "z9hG4bKuac1" {
		t.Fatalf("180 upstream: %v Vias %v", ring.StatusCode, ring.Vias())
	}

	// CANCEL (same top Via as the INVITE, §9.1): same branch downstream,
	// same target.
	cancel := uacRequest(sip.CANCEL, ruri, uac.addr(), "z9hG4bKuac1")
	cancel.SetCSeq(sip.CSeq{Seq: 1, Method: sip.CANCEL})
	uac.send(paddr, cancel)
	gotCancel := want.recvRequest()
	if gotCancel.Method != sip.CANCEL || gotCancel.TopVia().Branch() != branch {
		t.Errorf("CANCEL %v branch %q, INVITE's %q", gotCancel.Method, gotCancel.TopVia().Branch(), branch)
	}
	want.send(paddr, reply(gotCancel, sip.StatusOK, ""))
	if r := uac.recvResponse(); r.StatusCode != sip.StatusOK {
		t.Errorf("CANCEL answered %v", r.StatusCode)
	}
	// 487 with a body: forwarded as is, but for the Via.
	want.send(paddr, reply(got, sip.StatusRequestTerminated, "body stays"))
	term := uac.recvResponse()
	if term.StatusCode != sip.StatusRequestTerminated || string(term.Body) != "body stays" || len(term.Vias()) != 1 {
		t.Fatalf("487 upstream: %v %q %v", term.StatusCode, term.Body, term.Vias())
	}
	// The ACK of the 487 (same top Via, To tag now set): same branch.
	ack := uacRequest(sip.ACK, ruri, uac.addr(), "z9hG4bKuac1")
	ack.SetTo(*term.To())
	ack.SetCSeq(sip.CSeq{Seq: 1, Method: sip.ACK})
	uac.send(paddr, ack)
	gotAck := want.recvRequest()
	if gotAck.Method != sip.ACK || gotAck.TopVia().Branch() != branch {
		t.Errorf("ACK %v branch %q, INVITE's %q", gotAck.Method, gotAck.TopVia().Branch(), branch)
	}
	other := uas1
	if want == uas1 {
		other = uas2
	}
	if m := other.recvWithin(50 * time.Millisecond); m != nil {
		t.Errorf("the other target received %v", m)
	}
}

func (u *udpPeer) recvWithin(d time.Duration) sip.Message {
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil
	}
	m, _ := sip.Parse(buf[:n])
	return m
}

// TestStatelessRejects: validation failures and an empty target set are
// answered statelessly (483, 404), a retransmission gets the same To tag;
// an ACK is never answered; Policy refuses.
func TestStatelessRejects(t *testing.T) {
	uac := newPeer(t)
	_, paddr := newStateless(t, RouterFunc(func(context.Context, *sip.Request) ([]Target, sip.StatusCode, error) {
		return nil, sip.StatusNotFound, nil
	}), func(p *Stateless) {
		p.Policy = func(r *sip.Request) sip.StatusCode {
			if r.URI.Host == "example.org" {
				return sip.StatusForbidden
			}
			return 0
		}
	})
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}
	mf0 := uacRequest(sip.OPTIONS, ruri, uac.addr(), "z9hG4bKmf0")
	mf0.SetMaxForwards(0)
	uac.send(paddr, mf0)
	r1 := uac.recvResponse()
	uac.send(paddr, mf0)
	r2 := uac.recvResponse()
	if r1.StatusCode != sip.StatusTooManyHops || r2.StatusCode != sip.StatusTooManyHops || r1.To().Tag() == "" || r1.To().Tag() != r2.To().Tag() {
		t.Errorf("483s %v/%q and %v/%q", r1.StatusCode, r1.To().Tag(), r2.StatusCode, r2.To().Tag())
	}
	uac.send(paddr, uacRequest(sip.MESSAGE, ruri, uac.addr(), "z9hG4bKnobody"))
	if r := uac.recvResponse(); r.StatusCode != sip.StatusNotFound {
		t.Errorf("no target: %v", r.StatusCode)
	}
	uac.send(paddr, uacRequest(sip.MESSAGE, sip.URI{Scheme: "sip", User: "x", Host: "example.org"}, uac.addr(), "z9hG4bKrelay"))
	if r := uac.recvResponse(); r.StatusCode != sip.StatusForbidden {
		t.Errorf("policy: %v", r.StatusCode)
	}
	ack := uacRequest(sip.ACK, ruri, uac.addr(), "z9hG4bKack")
	ack.SetMaxForwards(0)
	uac.send(paddr, ack)
	if m := uac.recvWithin(100 * time.Millisecond); m != nil {
		t.Errorf("an ACK was answered: %v", m)
	}
}

// TestStatelessForeignResponse: a response whose top Via is not one the
// stateless proxy computed is discarded (§16.11).
func TestStatelessForeignResponse(t *testing.T) {
	p, _ := newStateless(t, noRouter(t))
	req := uacRequest(sip.INVITE, sip.URI{Scheme: "sip", Host: "example.com"}, netip.MustParseAddrPort("127.0.0.1:9"), "z9hG4bKsomeoneelse")
	req.PrependVia(sip.Via{Transport: "UDP", Host: "127.0.0.1", Port: 9, Params: ";branch=z9hG4bKnotstateless"})
	if err := p.ForwardResponse(context.Background(), sip.NewResponse(req, sip.StatusOK)); err != ErrNotOurs {
		t.Errorf("ForwardResponse = %v, want ErrNotOurs", err)
	}
}

// TestStatelessBranch: the §16.11 branch is the same for a retransmission,
// for the CANCEL and the non-2xx ACK of an INVITE (they share its top
// Via), and different for another transaction; without a magic cookie it
// is computed from the top Via, tags, Call-ID, CSeq number and
// Request-URI.
func TestStatelessBranch(t *testing.T) {
	key := newKeyedHash([]byte("k"))
	from := netip.MustParseAddrPort("192.0.2.1:5060")
	ruri := sip.URI{Scheme: "sip", User: "bob", Host: "example.com"}
	inv := uacRequest(sip.INVITE, ruri, from, "z9hG4bK1")
	cancel := uacRequest(sip.CANCEL, ruri, from, "z9hG4bK1")
	ack := uacRequest(sip.ACK, ruri, from, "z9hG4bK1")
	ack.SetTo(sip.NameAddr{URI: ruri, Params: ";tag=x"})
	b := statelessBranch(key, inv)
	if !IsStatelessBranch(b) {
		t.Fatalf("branch %q not recognised", b)
	}
	for name, r := range map[string]*sip.Request{"retransmission": inv.Clone(), "CANCEL": cancel, "ACK": ack} {
		if got := statelessBranch(key, r); got != b {
			t.Errorf("%s: %q, INVITE %q", name, got, b)
		}
	}
	if statelessBranch(key, uacRequest(sip.INVITE, ruri, from, "z9hG4bK2")) == b {
		t.Error("another branch gave the same hash")
	}
	if statelessBranch(newKeyedHash([]byte("other key")), inv) == b {
		t.Error("the key is not used")
	}
	// RFC 2543 Via (no magic cookie).
	old := uacRequest(sip.INVITE, ruri, from, "1")
	ob := statelessBranch(key, old)
	if statelessBranch(key, old.Clone()) != ob {
		t.Error("RFC 2543 retransmission got another branch")
	}
	next := old.Clone()
	next.SetCSeq(sip.CSeq{Seq: 2, Method: sip.INVITE})
	if statelessBranch(key, next) == ob {
		t.Error("RFC 2543: CSeq not in the hash")
	}
	for _, s := range []string{"", "z9hG4bK", "z9hG4bKs", "z9hG4bKs0123456789abcdef0123456", "z9hG4bKs0123456789abcdef012345678", "z9hG4bKs0123456789abcdef0123456g", sip.NewBranch()} {
		if IsStatelessBranch(s) {
			t.Errorf("IsStatelessBranch(%q)", s)
		}
	}
	if !IsStatelessBranch("z9hG4bKs0123456789abcdef01234567") {
		t.Error("a well-formed branch refused")
	}
}

// TestChoose: one target, whatever the order of the set.
func TestChoose(t *testing.T) {
	a := Target{URI: sip.URI{Scheme: "sip", Host: "a.example"}, Q: 500}
	b := Target{URI: sip.URI{Scheme: "sip", Host: "b.example"}, Q: 500}
	c := Target{URI: sip.URI{Scheme: "sip", Host: "c.example"}, Q: 900}
	for _, ts := range [][]Target{{a, b, c}, {c, b, a}, {b, c, a}} {
		if got := choose(ts); got.URI.Host != "c.example" {
			t.Errorf("choose(%v) = %v", ts, got.URI)
		}
	}
	for _, ts := range [][]Target{{a, b}, {b, a}} {
		if got := choose(ts); got.URI.Host != "a.example" {
			t.Errorf("choose(%v) = %v", ts, got.URI)
		}
	}
}

// udpAndTCP opens a loopback UDP socket and a TCP listener for a proxy,
// and returns them with their URIs for Record-Route.
func udpAndTCP(t *testing.T) (net.PacketConn, net.Listener, sip.URI, sip.URI) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	udpURI := sip.URI{Scheme: "sip", Host: "127.0.0.1", Port: pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()}
	tcpURI := sip.URI{Scheme: "sip", Host: "127.0.0.1", Port: tl.Addr().(*net.TCPAddr).AddrPort().Port(), Params: ";transport=tcp"}
	return pc, tl, udpURI, tcpURI
}

// TestDoubleRecordRouteUDPTCP: a call from a UAC on UDP to a UAS on TCP
// through a proxy listening on both. The proxy record-routes twice (RFC
// 5658 §6.2): the TCP interface (facing the UAS) on top, then the UDP one.
// In-dialog requests carry both as Route values in either order; the proxy
// removes both (§5) and forwards over the other side's transport.
func TestDoubleRecordRouteUDPTCP(t *testing.T) {
	ctx := t.Context()
	pc, tl, udpURI, tcpURI := udpAndTCP(t)

	// The UAS, on TCP only.
	type seen struct {
		req *sip.Request
		net transport.Network
	}
	uasGot := make(chan seen, 4)
	uasSrv := &stack.Server{Timers: fastTimers}
	var uasContact sip.URI
	uasSrv.Handler = stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		uasGot <- seen{r, w.(stack.FlowWriter).Flow().Network}
		res := sip.NewResponse(r, sip.StatusOK)
		for v := range r.Values("Record-Route") {
			_ = res.Add("Record-Route", v)
		}
		_ = res.Add("Contact", "<"+uasContact.String()+">")
		_ = w.Respond(res)
	})
	uasLn, err := uasSrv.Listen(ctx, transport.TCP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = uasSrv.Close() })
	uasContact = sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: uasLn.Addr().Port(), Params: ";transport=tcp"}

	// The proxy.
	psrv := &stack.Server{Timers: fastTimers}
	// example.com is served here, to the UAS; other URIs are their own
	// target (the in-dialog requests' remote targets).
	router := RouterFunc(func(_ context.Context, r *sip.Request) ([]Target, sip.StatusCode, error) {
		if r.URI.Host == "example.com" {
			return []Target{{URI: uasContact, Q: 1000}}, 0, nil
		}
		return []Target{{URI: r.URI, Q: 1000}}, 0, nil
	})
	p := &Proxy{Client: &stack.Client{Server: psrv}, Router: router,
		RecordRoute: &udpURI, Listeners: []sip.URI{udpURI, tcpURI}, Domains: []string{"example.com"}}
	psrv.Handler = p
	psrv.OnAck = p.ForwardAck
	psrv.OnResponse = p.ForwardResponse
	if _, err := psrv.ServePacket(pc); err != nil {
		t.Fatal(err)
	}
	if _, err := psrv.Serve(transport.TCP, tl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = psrv.Close() })

	// The UAC, on UDP.
	uacGot := make(chan seen, 4)
	uacSrv, uacAddr := uas(t, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		uacGot <- seen{r, w.(stack.FlowWriter).Flow().Network}
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	uac := &stack.Client{Server: uacSrv}
	toProxyUDP := stack.WithDest(transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), udpURI.Port)})

	inv := newRequest(sip.INVITE, sip.URI{Scheme: "sip", User: "bob", Host: "example.com"})
	uacContact := uri("alice", uacAddr)
	_ = inv.Add("Contact", "<"+uacContact.String()+">")
	res, err := uac.Do(ctx, inv, toProxyUDP)
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("INVITE: %v %v", res, err)
	}
	got := <-uasGot
	if got.net != transport.TCP {
		t.Errorf("INVITE reached the UAS over %v", got.net)
	}
	rr := got.req.RecordRoutes()
	if len(rr) != 2 || !sameURI(&rr[0].URI, &tcpURI) || !sameURI(&rr[1].URI, &udpURI) || !rr[0].URI.Params.Has("lr") || !rr[1].URI.Params.Has("lr") {
		t.Fatalf("Record-Route at the UAS: %v, want the TCP then the UDP interface", rr)
	}
	if rrs := res.RecordRoutes(); len(rrs) != 2 {
		t.Errorf("Record-Route at the UAC: %v", rrs)
	}

	// UAS → UAC: route set = Record-Route in order (§12.1.1), over TCP.
	bye := newRequest(sip.BYE, uacContact)
	bye.SetCallID(inv.CallID())
	for _, r := range rr {
		_ = bye.Add("Route", r.String())
	}
	uasClient := &stack.Client{Server: uasSrv}
	res, err = uasClient.Do(ctx, bye, stack.WithDest(transport.Dest{Network: transport.TCP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tcpURI.Port)}))
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("BYE from the UAS: %v %v", res, err)
	}
	g := <-uacGot
	if g.net != transport.UDP || len(g.req.Routes()) != 0 {
		t.Errorf("BYE at the UAC over %v with Route %v", g.net, g.req.Routes())
	}

	// UAC → UAS: route set reversed, over UDP.
	bye2 := newRequest(sip.BYE, uasContact)
	bye2.SetCallID(inv.CallID())
	_ = bye2.Add("Route", rr[1].String())
	_ = bye2.Add("Route", rr[0].String())
	res, err = uac.Do(ctx, bye2, toProxyUDP)
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("BYE from the UAC: %v %v", res, err)
	}
	g = <-uasGot
	if g.net != transport.TCP || len(g.req.Routes()) != 0 {
		t.Errorf("BYE at the UAS over %v with Route %v", g.net, g.req.Routes())
	}
}
