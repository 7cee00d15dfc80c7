package transport

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestRawUDP: the raw reads and writes of a UDP socket (udpraw_linux.go)
// send what they are given to the address given, and report the source
// address and port the net package would, on IPv4, IPv6 and dual-stack
// sockets; what they cannot send (a zoned address) is left to the net
// package, and an IPv6 destination on an IPv4 socket is an error there.
func TestRawUDP(t *testing.T) {
	type pair struct{ server, client string }
	cases := []pair{{"127.0.0.1:0", "127.0.0.1:0"}}
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c.Close()
		cases = append(cases, pair{"[::1]:0", "[::1]:0"}, pair{"[::]:0", "127.0.0.1:0"})
	}
	for _, tc := range cases {
		t.Run(tc.server+"<-"+tc.client, func(t *testing.T) {
			srv := listenRawTest(t, tc.server)
			cli := listenRawTest(t, tc.client)
			r := newRawUDP(srv)
			if r == nil {
				t.Fatal("no raw access to a UDP socket")
			}
			cliAddr := cli.LocalAddr().(*net.UDPAddr).AddrPort()
			srvPort := srv.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			srvAddr := netip.AddrPortFrom(cliAddr.Addr(), srvPort)
			for i, msg := range [][]byte{[]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"), bytes.Repeat([]byte("x"), 60000), {0}} {
				if _, err := cli.WriteToUDPAddrPort(msg, srvAddr); err != nil {
					t.Fatal(err)
				}
				op := newReadOp(make([]byte, 1<<16))
				srv.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, src, err := r.readFrom(op)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(op.b[:n], msg) {
					t.Errorf("%d: read %d bytes, want %d", i, n, len(msg))
				}
				if unmap(src) != cliAddr {
					t.Errorf("%d: source %v, want %v", i, src, cliAddr)
				}
				// And back, raw.
				ok, err := r.writeTo(msg, src)
				if !ok || err != nil {
					t.Fatalf("%d: writeTo %v: %v %v", i, src, ok, err)
				}
				buf := make([]byte, 1<<16)
				cli.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := cli.ReadFromUDPAddrPort(buf)
				if err != nil || !bytes.Equal(buf[:n], msg) || from.Port() != srvPort {
					t.Errorf("%d: the answer: %d bytes from %v, %v", i, n, from, err)
				}
			}
			if ok, _ := r.writeTo([]byte("x"), netip.MustParseAddrPort("[fe80::1%lo]:5060")); ok {
				t.Error("a zoned address was sent raw")
			}
			if !r.inet6 {
				if ok, _ := r.writeTo([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:5060")); ok {
					t.Error("an IPv6 destination was sent raw from an IPv4 socket")
				}
			}
			srv.Close()
			if _, _, err := r.readFrom(newReadOp(make([]byte, 10))); err == nil {
				t.Error("readFrom on a closed socket: no error")
			}
			if ok, err := r.writeTo([]byte("x"), cliAddr); ok && err == nil {
				t.Error("writeTo on a closed socket: no error")
			}
		})
	}
}

func listenRawTest(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
