package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

type events struct {
	mu sync.Mutex
	l  []string
}

func (e *events) add(s string) { e.mu.Lock(); e.l = append(e.l, s); e.mu.Unlock() }
func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.l, "\n")
}

// phone starts a ua.Phone for user on its own UDP socket and registers it
// with the server.
func phone(t *testing.T, user string, srv netip.AddrPort, ev *events, onCall func(*ua.Call)) *ua.Phone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &stack.Server{}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port()}}
	p := &ua.Phone{Server: s, Client: &stack.Client{Server: s}, MediaIP: netip.MustParseAddr("127.0.0.1"), OnEvent: ev.add, OnCall: onCall,
		Identity: ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}}, Contact: &contact}}
	p.Attach()
	if _, err := s.ServePacket(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	r := &ua.Registration{Client: p.Client, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
		AoR: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}, Contact: contact.URI,
		Options: []stack.Option{stack.WithDest(transport.Dest{Network: transport.UDP, Addr: srv})}}
	if _, err := r.Register(t.Context()); err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	return p
}

// TestCallThroughProxy: two phones register with parley serve; alice calls
// sip:bob@127.0.0.1 through it; the proxy finds bob's binding, forwards
// with Record-Route, the ACK and the BYE follow the route set, and RTP
// flows both ways (issue #7: a call between two registered UAs).
func TestCallThroughProxy(t *testing.T) {
	s := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"})
	srv := udpAddr(t, s)
	var ea, eb events
	answered := make(chan *ua.Call, 1)
	alice := phone(t, "alice", srv, &ea, nil)
	phone(t, "bob", srv, &eb, func(c *ua.Call) { answered <- c })

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	call, err := alice.Dial(ctx, sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1"}, transport.Dest{Network: transport.UDP, Addr: srv})
	if err != nil {
		t.Fatalf("dial: %v\nalice:\n%s\nbob:\n%s", err, ea.String(), eb.String())
	}
	var bc *ua.Call
	select {
	case bc = <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("bob did not answer")
	}
	rs := call.Dialog.RouteSet()
	if len(rs) != 1 || rs[0].URI.Port != srv.Port() || !rs[0].URI.Params.Has("lr") {
		t.Errorf("caller's route set %v, want the proxy's Record-Route", rs)
	}
	time.Sleep(500 * time.Millisecond)
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-bc.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("bob did not get the BYE\nbob:\n%s", eb.String())
	}
	aSent, aRecv := call.Media.Counts()
	bSent, bRecv := bc.Media.Counts()
	if aRecv < 5 || bRecv < 5 {
		t.Errorf("RTP: alice sent %d received %d, bob sent %d received %d", aSent, aRecv, bSent, bRecv)
	}
	if !strings.Contains(eb.String(), "<-- ACK") {
		t.Errorf("bob never got the ACK through the proxy:\n%s", eb.String())
	}
}
