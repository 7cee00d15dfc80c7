package ua

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

type ladder struct {
	mu    sync.Mutex
	lines []string
}

func (l *ladder) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *ladder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newPhone(t *testing.T, user string, echo bool, lad *ladder, onCall func(*Call), cfg ...func(*Phone)) (*Phone, netip.AddrPort) {
	t.Helper()
	// The socket first, so that the Contact is known before the phone is
	// configured and starts serving.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &stack.Server{}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port()}}
	p := &Phone{Server: s, Client: &stack.Client{Server: s}, MediaIP: netip.MustParseAddr("127.0.0.1"), Echo: echo, OnEvent: lad.add, OnCall: onCall,
		Identity: Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}}, Contact: &contact}}
	for _, f := range cfg {
		f(p)
	}
	p.Attach()
	if _, err := s.ServePacket(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return p, addr
}

// TestCallExchangesRTP: a call between two phones over loopback: INVITE
// with an SDP offer, 180, 200 with the answer, ACK, RTP both ways, BYE.
func TestCallExchangesRTP(t *testing.T) {
	var la, lb ladder
	answered := make(chan *Call, 1)
	a, _ := newPhone(t, "alice", false, &la, nil)
	_, bAddr := newPhone(t, "bob", false, &lb, func(c *Call) { answered <- c })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	target := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: bAddr.Port()}
	call, err := a.Dial(ctx, target, transport.Dest{Network: transport.UDP, Addr: bAddr})
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, la.String())
	}
	bc := <-answered
	time.Sleep(600 * time.Millisecond)
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("callee did not see the BYE")
	}
	aSent, aRecv := call.Media.Counts()
	bSent, bRecv := bc.Media.Counts()
	if aSent < 10 || bSent < 10 || aRecv < 5 || bRecv < 5 {
		t.Errorf("RTP counts: alice sent %d received %d, bob sent %d received %d", aSent, aRecv, bSent, bRecv)
	}
	for _, want := range []string{"--> INVITE", "<-- 180 Ringing", "<-- 200 OK", "--> ACK", "--> BYE"} {
		if !strings.Contains(la.String(), want) {
			t.Errorf("caller ladder lacks %q:\n%s", want, la.String())
		}
	}
	for _, want := range []string{"<-- INVITE", "--> 200 OK", "<-- ACK", "<-- BYE"} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("callee ladder lacks %q:\n%s", want, lb.String())
		}
	}
}

func TestEchoAndULaw(t *testing.T) {
	if linearToULaw(0) != 0xff || linearToULaw(-1) != 0x7f || linearToULaw(32767) != 0x80 || linearToULaw(-32768) != 0x00 {
		t.Errorf("µ-law: %#x %#x %#x %#x", linearToULaw(0), linearToULaw(-1), linearToULaw(32767), linearToULaw(-32768))
	}
	var la, lb ladder
	a, _ := newPhone(t, "alice", false, &la, nil)
	_, bAddr := newPhone(t, "bob", true, &lb, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	call, err := a.Dial(ctx, sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: bAddr.Port()}, transport.Dest{Network: transport.UDP, Addr: bAddr})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	_ = call.Hangup(ctx)
	sent, recv := call.Media.Counts()
	if sent < 10 || recv < 5 || recv > sent {
		t.Errorf("echo: sent %d, received back %d", sent, recv)
	}
}

// TestPhoneOnSessions: the Phone runs on the Session API, so its calls
// take a hold re-INVITE, an UPDATE and an in-dialog MESSAGE, and an
// early-media callee answers with a PRACKed 183 first.
func TestPhoneOnSessions(t *testing.T) {
	var la, lb ladder
	answered := make(chan *Call, 1)
	a, _ := newPhone(t, "alice", false, &la, nil)
	_, bAddr := newPhone(t, "bob", false, &lb, func(c *Call) { answered <- c }, func(p *Phone) { p.EarlyMedia = true })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	call, err := a.Dial(ctx, sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: bAddr.Port()}, transport.Dest{Network: transport.UDP, Addr: bAddr})
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, la.String())
	}
	bc := <-answered
	if err := call.Session.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	if err := call.Session.Update(ctx, (*sdp.Session).Resume); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Session.Message(ctx, "text/plain", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	<-bc.Done()
	for _, want := range []string{"<-- 183 Session Progress", "--> PRACK", "<-- 200 OK (PRACK)", "--> UPDATE", "--> MESSAGE", "--> BYE"} {
		if !strings.Contains(la.String(), want) {
			t.Errorf("caller ladder lacks %q:\n%s", want, la.String())
		}
	}
}
