package ua_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

// startUA runs a UA on a loopback UDP port and returns it with a stop
// function.
func startUA(user string, onInvite func(context.Context, *ua.Session)) (*ua.UA, netip.AddrPort, func()) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	srv := &stack.Server{}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port()}}
	u := &ua.UA{Server: srv, OnInvite: onInvite,
		Identity: ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}}, Contact: &contact}}
	u.Attach()
	if _, err := srv.ServePacket(conn); err != nil {
		panic(err)
	}
	return u, addr, func() {
		u.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

func pcmu(port int) sdp.Capabilities {
	return sdp.Capabilities{Address: netip.MustParseAddr("127.0.0.1"), Ports: func(string) int { return port },
		Media: []sdp.MediaCapability{{Type: "audio", Codecs: []sdp.Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}}}}}
}

// Example places a call between two user agents on loopback: the callee
// rings and answers, the caller puts the call on hold with a re-INVITE and
// hangs up with a Reason.
func Example() {
	answered := make(chan *ua.Session, 1)
	_, bobAddr, stopBob := startUA("bob", func(ctx context.Context, s *ua.Session) {
		s.Media = pcmu(20002)
		_ = s.Progress(ctx, sip.StatusRinging, false) // reliable (PRACKed): both sides support 100rel
		_ = s.Accept()
		answered <- s
	})
	defer stopBob()
	alice, _, stopAlice := startUA("alice", nil)
	defer stopAlice()

	ctx := context.Background()
	call := alice.NewCall(sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: bobAddr.Port()}, ua.CallOptions{
		Media: pcmu(20000),
		Dest:  &transport.Dest{Network: transport.UDP, Addr: bobAddr},
		OnProvisional: func(_ *ua.Session, res *sip.Response) {
			if res.StatusCode > 100 {
				fmt.Println("caller got", res.StatusCode)
			}
		},
	})
	if err := call.Invite(ctx); err != nil {
		fmt.Println("call failed:", err)
		return
	}
	bob := <-answered
	fmt.Println("caller:", call.State(), "callee:", bob.State())

	if err := call.Hold(ctx); err != nil {
		fmt.Println("hold failed:", err)
	}
	fmt.Println("callee now sees the caller's stream as", bob.RemoteSDP().MediaDirection(&bob.RemoteSDP().Media[0]))

	_ = call.Bye(ctx, ua.ReasonNormal)
	<-bob.Done()
	var r *ua.Reason
	if errors.As(bob.Err(), &r) {
		fmt.Println("callee ended:", r.Protocol, r.Cause, r.Text)
	}
	// Output:
	// caller got 180 Ringing
	// caller: confirmed callee: confirmed
	// callee now sees the caller's stream as sendonly
	// callee ended: Q.850 16 Normal call clearing
}

// ExampleUA_Message sends a MESSAGE (RFC 3428) outside any dialog; the
// receiver's limit gets a larger one 413.
func ExampleUA_Message() {
	_, bobAddr, stopBob := startUA("bob", nil)
	defer stopBob()
	alice, _, stopAlice := startUA("alice", nil)
	defer stopAlice()
	bob := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: bobAddr.Port()}
	dest := &transport.Dest{Network: transport.UDP, Addr: bobAddr}
	res, err := alice.Message(context.Background(), bob, "text/plain", []byte("hello"), dest)
	fmt.Println(res.StatusCode, err)
	_, err = alice.Message(context.Background(), bob, "text/plain", make([]byte, 2000), dest)
	fmt.Println(err)
	// Output:
	// 200 OK <nil>
	// ua: MESSAGE body too large for a transport without congestion control (RFC 3428 §8)
}
