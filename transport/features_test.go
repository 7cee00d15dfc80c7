package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

// TestCRLFKeepAlive: RFC 5626 §4.4.1, a CRLFCRLF ping on a stream is
// answered with one CRLF, and the connection keeps working.
func TestCRLFKeepAlive(t *testing.T) {
	for _, host := range loopbacks {
		t.Run(host, func(t *testing.T) {
			if host == "::1" {
				hasIPv6(t)
			}
			server := newLayer(t)
			echo(server)
			addr := listen(t, server, TCP, net.JoinHostPort(host, "0"))
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 2 {
				c.Write([]byte("\r\n\r\n"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 8)
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != "\r\n" {
					t.Fatalf("ping %d: pong %q, %v; want CRLF", i, buf[:n], err)
				}
			}
			c.Write(rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKka", "after-ping", ""))
			m, err := readSIP(t, c, 5*time.Second)
			if err != nil || m.Headers().CallID() != "after-ping" {
				t.Fatalf("request after pings: %v, %v", m, err)
			}
			if k := server.Stats().KeepAlives; k != 2 {
				t.Errorf("KeepAlives = %d, want 2", k)
			}
		})
	}
}

// TestSTUNBinding: RFC 5626 §4.4.2 and §8, a STUN Binding Request on a SIP
// UDP port is answered with XOR-MAPPED-ADDRESS naming the client; CRLF
// datagrams and other STUN messages get no answer.
func TestSTUNBinding(t *testing.T) {
	for _, host := range loopbacks {
		t.Run(host, func(t *testing.T) {
			if host == "::1" {
				hasIPv6(t)
			}
			server := newLayer(t)
			got := collect(server)
			addr := listen(t, server, UDP, net.JoinHostPort(host, "0"))
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Ignored: CRLF keep-alives and a STUN Binding Indication.
			c.Write([]byte("\r\n\r\n"))
			ind := make([]byte, 20)
			binary.BigEndian.PutUint16(ind, 0x0011)
			binary.BigEndian.PutUint32(ind[4:], stunMagic)
			c.Write(ind)

			req := make([]byte, 20)
			binary.BigEndian.PutUint16(req, stunBindingRequest)
			binary.BigEndian.PutUint32(req[4:], stunMagic)
			rand.Read(req[8:20])
			c.Write(req)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got6 := parseXORMapped(t, buf[:n], req[8:20])
			if want := addrPortOf(c.LocalAddr()); got6 != want {
				t.Errorf("XOR-MAPPED-ADDRESS %v, want %v", got6, want)
			}
			// Nothing else comes back, and nothing reached the Handler.
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				t.Errorf("unexpected datagram %q", buf[:n])
			}
			select {
			case in := <-got:
				t.Errorf("handler got %v", in.Message)
			default:
			}
			st := server.Stats()
			if st.STUNBindings != 1 || st.KeepAlives != 1 || st.ParseErrors != 0 {
				t.Errorf("stats: STUN %d, keep-alives %d, parse errors %d; want 1, 1, 0", st.STUNBindings, st.KeepAlives, st.ParseErrors)
			}
		})
	}
}

func parseXORMapped(t *testing.T, b, txid []byte) netip.AddrPort {
	t.Helper()
	if len(b) < 20 || binary.BigEndian.Uint16(b) != stunBindingSuccess || binary.BigEndian.Uint32(b[4:]) != stunMagic ||
		!bytes.Equal(b[8:20], txid) || int(binary.BigEndian.Uint16(b[2:]))+20 != len(b) {
		t.Fatalf("not a Binding Success Response for our transaction: %x", b)
	}
	attrs := b[20:]
	for len(attrs) >= 4 {
		typ, l := binary.BigEndian.Uint16(attrs), int(binary.BigEndian.Uint16(attrs[2:]))
		v := attrs[4 : 4+l]
		if typ == stunXORMappedAddr {
			port := binary.BigEndian.Uint16(v[2:]) ^ uint16(stunMagic>>16)
			key := make([]byte, 16)
			binary.BigEndian.PutUint32(key, stunMagic)
			copy(key[4:], txid)
			ip := make([]byte, len(v)-4)
			for i := range ip {
				ip[i] = v[4+i] ^ key[i]
			}
			a, _ := netip.AddrFromSlice(ip)
			return netip.AddrPortFrom(a, port)
		}
		attrs = attrs[4+(l+3)&^3:]
	}
	t.Fatal("no XOR-MAPPED-ADDRESS")
	return netip.AddrPort{}
}

// TestMTU: §18.1.1 with a configured MTU, and the retry over UDP when the
// TCP connection is refused.
func TestMTU(t *testing.T) {
	t.Run("MTU-200", func(t *testing.T) {
		server := newLayer(t)
		echo(server)
		addr := listenUDPTCP(t, server, "127.0.0.1")
		client := newLayer(t)
		client.MTU = 1000
		got := collect(client)
		for _, tc := range []struct {
			body int
			want Network
		}{{400, UDP}, {700, TCP}} {
			req := newRequest(t, sip.MESSAGE, bytes.Repeat([]byte("x"), tc.body))
			f, err := client.SendRequest(context.Background(), req, Dest{Network: UDP, Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			if f.Network != tc.want {
				t.Errorf("%d-byte request sent over %v, want %v", req.Len(), f.Network, tc.want)
			}
			waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
		}
	})
	t.Run("TCP refused", func(t *testing.T) {
		server := newLayer(t)
		echo(server)
		addr := listen(t, server, UDP, "127.0.0.1:0") // no TCP on that port
		client := newLayer(t)
		got := collect(client)
		req := newRequest(t, sip.MESSAGE, bytes.Repeat([]byte("x"), 2000))
		f, err := client.SendRequest(context.Background(), req, Dest{Network: UDP, Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		if f.Network != UDP || req.TopVia().Transport != "UDP" {
			t.Errorf("sent over %v with Via %q, want the UDP retry", f.Network, req.TopVia().Transport)
		}
		in := waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
		if in.Flow.Network != UDP {
			t.Errorf("response over %v", in.Flow.Network)
		}
	})
}

// TestAlias: RFC 5923, a server reuses a client's aliased connection for
// requests to the client's sent-by, and only then.
func TestAlias(t *testing.T) {
	tests := []struct {
		name       string
		n          Network
		alias      bool // both ends have Alias on
		clientCert bool // the client presents a certificate (TLS)
		reused     bool
	}{
		{"TCP/alias", TCP, true, false, true},
		{"TCP/no-alias", TCP, false, false, false},
		{"TLS/alias", TLS, true, true, true},
		{"TLS/no-alias", TLS, false, true, false},
		// RFC 5923 §9.2: no client certificate, no alias.
		{"TLS/alias-without-client-cert", TLS, true, false, false},
	}
	for _, tt := range tests {
		n, alias := tt.n, tt.alias
		t.Run(tt.name, func(t *testing.T) {
			server := newLayer(t)
			server.Alias = alias
			sIn := collect(server)
			saddr := listen(t, server, n, "127.0.0.1:0")
			client := newLayer(t)
			client.Alias = alias
			if !tt.clientCert {
				client.ClientTLSConfig.Certificates = nil
			}
			cIn := collect(client)
			caddr := listen(t, client, n, "127.0.0.1:0")

			req := newRequest(t, sip.REGISTER, nil)
			f, err := client.SendRequest(context.Background(), req, Dest{Network: n, Addr: saddr})
			if err != nil {
				t.Fatal(err)
			}
			if got := req.TopVia().Params.Has("alias"); got != alias {
				t.Errorf("Via alias = %v, want %v", got, alias)
			}
			waitFor(t, sIn, 5*time.Second, byCallID(req.CallID()))

			back := newRequest(t, sip.OPTIONS, nil)
			bf, err := server.SendRequest(context.Background(), back, Dest{Network: n, Addr: caddr, Host: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			in := waitFor(t, cIn, 5*time.Second, byCallID(back.CallID()))
			reused := in.Flow.ConnID == f.ConnID
			if reused != tt.reused {
				t.Errorf("server's request reused the client's connection: %v, want %v (flow %v)", reused, tt.reused, bf)
			}
			wantAccepted := uint64(1)
			if tt.reused {
				wantAccepted = 0
			}
			if a := client.Stats().ConnsAccepted; a != wantAccepted {
				t.Errorf("client accepted %d connections, want %d", a, wantAccepted)
			}
		})
	}
}

// TestDestFlow: a request for a flow goes over exactly that flow, and
// fails with ErrFlowClosed once it is gone (RFC 5626 §5.3).
func TestDestFlow(t *testing.T) {
	for _, n := range []Network{UDP, TCP, WS} {
		t.Run(n.String(), func(t *testing.T) {
			registrar := newLayer(t)
			rIn := collect(registrar)
			raddr := listen(t, registrar, n, "127.0.0.1:0")
			ua := newLayer(t)
			uIn := collect(ua)
			if n == UDP {
				listen(t, ua, UDP, "127.0.0.1:0")
			}
			reg := newRequest(t, sip.REGISTER, nil)
			if _, err := ua.SendRequest(context.Background(), reg, Dest{Network: n, Addr: raddr}); err != nil {
				t.Fatal(err)
			}
			flow := waitFor(t, rIn, 5*time.Second, byCallID(reg.CallID())).Flow

			inv := newRequest(t, sip.INVITE, nil)
			f, err := registrar.SendRequest(context.Background(), inv, Dest{Flow: flow})
			if err != nil {
				t.Fatal(err)
			}
			if f != flow {
				t.Errorf("sent on %v, want %v", f, flow)
			}
			in := waitFor(t, uIn, 5*time.Second, byCallID(inv.CallID()))
			if in.Flow.Remote != flow.Local || in.Flow.Local != flow.Remote {
				t.Errorf("UA got it on %v, the registrar's flow is %v", in.Flow, flow)
			}
			if n == UDP {
				return
			}
			ua.Close()
			eventually(t, 5*time.Second, "the flow to close", func() bool { return registrar.Stats().ConnsOpen == 0 })
			if _, err := registrar.SendRequest(context.Background(), newRequest(t, sip.INVITE, nil), Dest{Flow: flow}); !errors.Is(err, ErrFlowClosed) {
				t.Errorf("after close: %v, want ErrFlowClosed", err)
			}
			if err := registrar.SendResponse(context.Background(), sip.NewResponse(inv, 200), flow); n == WS && !errors.Is(err, ErrFlowClosed) {
				t.Errorf("WS response after close: %v, want ErrFlowClosed", err)
			}
		})
	}
}

// TestTap: the tap sees every message in both directions, with addresses,
// and a full TapBuffer drops and counts instead of blocking.
func TestTap(t *testing.T) {
	server := newLayer(t)
	echo(server)
	tb := NewTapBuffer(3)
	server.Tap = tb.Tap
	addr := listen(t, server, TCP, "127.0.0.1:0")
	client := newLayer(t)
	got := collect(client)
	var last netip.AddrPort
	for range 3 {
		req := newRequest(t, sip.OPTIONS, nil)
		f, err := client.SendRequest(context.Background(), req, Dest{Network: TCP, Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		last = f.Local
		waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
	}
	// The server taps a response before writing it, so all 6 are in by now.
	eventually(t, 5*time.Second, "6 events, 3 of them dropped", func() bool { return tb.Dropped() == 3 })
	want := []Direction{Inbound, Outbound, Inbound}
	for i, dir := range want {
		e := <-tb.Events()
		if e.Direction != dir || e.Network != TCP || e.Local != addr || e.Remote != last || e.ConnID == 0 || e.Time.IsZero() {
			t.Errorf("event %d: %+v", i, e)
		}
		if _, err := sip.Parse(e.Data); err != nil {
			t.Errorf("event %d: data does not parse: %v", i, err)
		}
	}
}
