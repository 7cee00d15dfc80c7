package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

var allNetworks = []Network{UDP, TCP, TLS, WS, WSS}
var loopbacks = []string{"127.0.0.1", "::1"}

// TestRequestResponseMatrix sends requests of three sizes over every
// network and address family to an echoing server and checks the
// responses, and that large UDP requests went over TCP (§18.1.1).
func TestRequestResponseMatrix(t *testing.T) {
	sizes := []struct {
		name string
		body int
	}{{"100B", 100}, {"1.3KB", 1300}, {"60KB", 60000}}
	for _, n := range allNetworks {
		for _, host := range loopbacks {
			t.Run(fmt.Sprintf("%v/%s", n, host), func(t *testing.T) {
				if host == "::1" {
					hasIPv6(t)
				}
				server := newLayer(t)
				echo(server)
				var addr netip.AddrPort
				if n == UDP {
					addr = listenUDPTCP(t, server, host)
				} else {
					addr = listen(t, server, n, net.JoinHostPort(host, "0"))
				}
				client := newLayer(t)
				got := collect(client)
				if n == UDP {
					listen(t, client, UDP, net.JoinHostPort(host, "0"))
				}
				dest := Dest{Network: n, Addr: addr}
				if n.Secure() {
					dest.Host = "localhost"
				}
				for _, sz := range sizes {
					body := bytes.Repeat([]byte{'a' + byte(sz.body%26)}, sz.body)
					req := newRequest(t, sip.OPTIONS, body)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					f, err := client.SendRequest(ctx, req, dest)
					cancel()
					if err != nil {
						t.Fatalf("%s: SendRequest: %v", sz.name, err)
					}
					want := n
					if n == UDP && req.Len() > 1300 {
						want = TCP
					}
					if f.Network != want {
						t.Errorf("%s: sent over %v, want %v", sz.name, f.Network, want)
					}
					if tr := req.TopVia().Transport; tr != want.String() {
						t.Errorf("%s: Via transport %q, want %q", sz.name, tr, want)
					}
					if f.Reliable() != (f.ConnID != 0) {
						t.Errorf("%s: flow %v: ConnID and reliability disagree", sz.name, f)
					}
					in := waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
					res, ok := in.Message.(*sip.Response)
					if !ok {
						t.Fatalf("%s: got %T, want a response", sz.name, in.Message)
					}
					if res.StatusCode != sip.StatusOK {
						t.Errorf("%s: status %d", sz.name, res.StatusCode)
					}
					if !bytes.Equal(res.Body, body) {
						t.Errorf("%s: body of %d bytes, want %d", sz.name, len(res.Body), len(body))
					}
					if in.Flow.Network != want {
						t.Errorf("%s: response came over %v, want %v", sz.name, in.Flow.Network, want)
					}
					if want.Reliable() && in.Flow.ConnID != f.ConnID {
						t.Errorf("%s: response on connection %d, request sent on %d", sz.name, in.Flow.ConnID, f.ConnID)
					}
					if v := res.TopVia(); v.Transport != want.String() {
						t.Errorf("%s: response Via transport %q", sz.name, v.Transport)
					}
				}
				st := server.Stats()
				if n == UDP && st.Net[TCP].MsgsIn != 2 {
					t.Errorf("server received %d TCP messages, want the 2 large ones", st.Net[TCP].MsgsIn)
				}
			})
		}
	}
}

// TestReceivedRPort checks the Via processing of §18.2.1 and RFC 3581 §4
// with a client behind a pretend NAT, and where the response goes.
func TestReceivedRPort(t *testing.T) {
	for _, host := range loopbacks {
		t.Run(host, func(t *testing.T) {
			if host == "::1" {
				hasIPv6(t)
			}
			server := newLayer(t)
			reqs := make(chan Incoming, 8)
			server.Handler = func(in Incoming) {
				reqs <- in
				server.SendResponse(context.Background(), sip.NewResponse(in.Message.(*sip.Request), 200), in.Flow)
			}
			addr := listen(t, server, UDP, net.JoinHostPort(host, "0"))
			src, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			// A second socket stands for the port named in sent-by.
			other, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			srcAP := addrPortOf(src.LocalAddr())
			otherAP := addrPortOf(other.LocalAddr())
			ip := srcAP.Addr().String()
			hostport := func(a netip.AddrPort) string { return a.String() }
			tests := []struct {
				name         string
				via          string
				wantReceived string // "" = absent
				wantRPort    string // "" = absent
				replyTo      *net.UDPConn
			}{
				{"nat rport", "SIP/2.0/UDP 192.0.2.7:5999;branch=z9hG4bKnat1;rport", ip, fmt.Sprint(srcAP.Port()), src},
				{"rport same ip", "SIP/2.0/UDP " + hostport(otherAP) + ";branch=z9hG4bKnat2;rport", ip, fmt.Sprint(srcAP.Port()), src},
				{"no rport same ip", "SIP/2.0/UDP " + hostport(otherAP) + ";branch=z9hG4bKnat3", "", "", other},
				{"no rport name", "SIP/2.0/UDP localhost:" + fmt.Sprint(otherAP.Port()) + ";branch=z9hG4bKnat4", ip, "", other},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					callID := "rport-" + strings.ReplaceAll(tt.name, " ", "-")
					if _, err := src.WriteToUDPAddrPort(rawRequest(tt.via, callID, ""), addr); err != nil {
						t.Fatal(err)
					}
					var in Incoming
					select {
					case in = <-reqs:
					case <-time.After(5 * time.Second):
						t.Fatalf("request not received; stats %+v", server.Stats())
					}
					v := in.Message.Headers().TopVia()
					rec, hasRec := v.Received()
					if got := map[bool]string{true: rec}[hasRec]; got != tt.wantReceived {
						t.Errorf("received = %q (present %v), want %q", rec, hasRec, tt.wantReceived)
					}
					rp, _ := v.Params.Get("rport")
					if rp != tt.wantRPort {
						t.Errorf("rport = %q, want %q", rp, tt.wantRPort)
					}
					if in.Flow.Remote != srcAP {
						t.Errorf("flow remote %v, want %v", in.Flow.Remote, srcAP)
					}
					tt.replyTo.SetReadDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, 65536)
					n, _, err := tt.replyTo.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("no response at %v: %v", tt.replyTo.LocalAddr(), err)
					}
					m, err := sip.Parse(buf[:n])
					if err != nil || m.Headers().CallID() != callID {
						t.Fatalf("unexpected reply %q: %v", buf[:n], err)
					}
				})
			}
		})
	}
}

// TestResponseOnSameConnection: a client without a TCP listener gets its
// response on the connection it sent on; when that connection is gone, the
// server opens one to the received address and sent-by port (§18.2.2).
func TestResponseOnSameConnection(t *testing.T) {
	for _, n := range []Network{TCP, TLS} {
		for _, withListener := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/listener=%v", n, withListener), func(t *testing.T) {
				server := newLayer(t)
				echo(server)
				addr := listen(t, server, n, "127.0.0.1:0")

				client := newLayer(t)
				got := collect(client)
				var lnAddr netip.AddrPort
				if withListener {
					lnAddr = listen(t, client, n, "127.0.0.1:0")
				}
				req := newRequest(t, sip.OPTIONS, nil)
				f, err := client.SendRequest(context.Background(), req, Dest{Network: n, Addr: addr})
				if err != nil {
					t.Fatal(err)
				}
				wantSentBy := f.Local // no listener: the connection's own address
				if withListener {
					wantSentBy = lnAddr
				}
				if v := req.TopVia(); v.Host != "127.0.0.1" || v.Port != wantSentBy.Port() {
					t.Errorf("Via sent-by %s:%d, want %v", v.Host, v.Port, wantSentBy)
				}
				in := waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
				if in.Flow != f {
					t.Errorf("response flow %v, request flow %v", in.Flow, f)
				}
				if a, c := server.Stats().ConnsAccepted, client.Stats().ConnsAccepted; a != 1 || c != 0 {
					t.Errorf("connections accepted: server %d, client %d; want 1, 0", a, c)
				}
			})
		}
	}

	t.Run("reconnect", func(t *testing.T) {
		server := newLayer(t)
		reqs := collect(server)
		addr := listen(t, server, TCP, "127.0.0.1:0")
		// The "client" is a raw connection whose Via names a raw listener.
		back, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer back.Close()
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		via := "SIP/2.0/TCP " + back.Addr().String() + ";branch=z9hG4bKre1"
		c.Write(rawRequest(via, "reconnect", ""))
		in := waitFor(t, reqs, 5*time.Second, byCallID("reconnect"))
		c.Close()
		eventually(t, 5*time.Second, "server to see the close", func() bool { return server.Stats().ConnsOpen == 0 })
		if err := server.SendResponse(context.Background(), sip.NewResponse(in.Message.(*sip.Request), 200), in.Flow); err != nil {
			t.Fatalf("SendResponse: %v", err)
		}
		back.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		bc, err := back.Accept()
		if err != nil {
			t.Fatalf("server did not connect back: %v", err)
		}
		defer bc.Close()
		m, err := readSIP(t, bc, 5*time.Second)
		if err != nil || m.Headers().CallID() != "reconnect" {
			t.Fatalf("read %v, %v", m, err)
		}
	})
}

// TestResponseSentByCheck: §18.1.2, responses whose sent-by is not ours
// are discarded.
func TestResponseSentByCheck(t *testing.T) {
	client := newLayer(t)
	got := collect(client)
	caddr := listen(t, client, UDP, "127.0.0.1:0")
	s, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp := func(via, id string) []byte {
		return []byte("SIP/2.0 200 OK\r\nVia: " + via + "\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n" +
			"Call-ID: " + id + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	}
	s.WriteToUDPAddrPort(resp("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx", "foreign"), caddr)
	s.WriteToUDPAddrPort(resp("SIP/2.0/UDP "+caddr.String()+";branch=z9hG4bKy", "ours"), caddr)
	in := waitFor(t, got, 5*time.Second, func(Incoming) bool { return true })
	if id := in.Message.Headers().CallID(); id != "ours" {
		t.Errorf("got response %q, want only %q", id, "ours")
	}
	if d := client.Stats().ResponsesDiscarded; d != 1 {
		t.Errorf("ResponsesDiscarded = %d, want 1", d)
	}
}

// TestSendRequestErrors covers the argument checks.
func TestSendRequestErrors(t *testing.T) {
	l := newLayer(t)
	noVia := newRequest(t, sip.OPTIONS, nil)
	noVia.Del("Via")
	tests := []struct {
		name string
		req  *sip.Request
		d    Dest
		want error
	}{
		{"no via", noVia, Dest{Network: UDP, Addr: netip.MustParseAddrPort("127.0.0.1:5060")}, ErrNoVia},
		{"no addr", newRequest(t, sip.OPTIONS, nil), Dest{Network: UDP}, ErrBadDest},
		{"sctp", newRequest(t, sip.OPTIONS, nil), Dest{Network: SCTP, Addr: netip.MustParseAddrPort("127.0.0.1:5060")}, ErrUnsupported},
		{"closed flow", newRequest(t, sip.OPTIONS, nil), Dest{Flow: Flow{Network: TCP, ConnID: 999}}, ErrFlowClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.SendRequest(context.Background(), tt.req, tt.d)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// SendResponseKeep gives back the datagram it sent over UDP and where it
// went, and Resend sends exactly those bytes again from the same socket;
// over TCP there is nothing to keep; Resend fails once the listener has
// closed.
func TestSendResponseKeep(t *testing.T) {
	server := newLayer(t)
	reqs := collect(server)
	addr := listenUDPTCP(t, server, "127.0.0.1")
	src, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcAP := addrPortOf(src.LocalAddr())
	if _, err := src.WriteToUDPAddrPort(rawRequest("SIP/2.0/UDP 192.0.2.7:5999;branch=z9hG4bKkeep1;rport", "keep-1", ""), addr); err != nil {
		t.Fatal(err)
	}
	in := waitFor(t, reqs, 5*time.Second, byCallID("keep-1"))
	res := sip.NewResponse(in.Message.(*sip.Request), sip.StatusOK)
	b, sent, err := server.SendResponseKeep(t.Context(), res, in.Flow)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Flow{Network: UDP, Local: addr, Remote: srcAP}); sent != want {
		t.Fatalf("sent on %+v, want %+v", sent, want)
	}
	read := func() []byte {
		t.Helper()
		buf := make([]byte, 4096)
		if err := src.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := src.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if unmap(from) != addr {
			t.Fatalf("datagram from %v, want the listener %v", from, addr)
		}
		return buf[:n]
	}
	first := read()
	if !bytes.Equal(first, b) || !bytes.Equal(b, res.AppendTo(nil)) {
		t.Fatalf("kept bytes differ from those sent:\n%s\n---\n%s", b, first)
	}
	if err := server.Resend(t.Context(), b, sent); err != nil {
		t.Fatal(err)
	}
	if again := read(); !bytes.Equal(again, first) {
		t.Fatalf("resent datagram differs:\n%s\n---\n%s", again, first)
	}

	// TCP: sent as by SendResponse, nothing kept.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(rawRequest("SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKkeep2", "keep-2", "")); err != nil {
		t.Fatal(err)
	}
	in = waitFor(t, reqs, 5*time.Second, byCallID("keep-2"))
	b2, _, err := server.SendResponseKeep(t.Context(), sip.NewResponse(in.Message.(*sip.Request), sip.StatusOK), in.Flow)
	if err != nil || b2 != nil {
		t.Fatalf("over TCP: %d bytes kept, %v", len(b2), err)
	}
	if m, err := readSIP(t, c, 5*time.Second); err != nil || m.(*sip.Response).StatusCode != sip.StatusOK {
		t.Fatalf("TCP response: %v, %v", m, err)
	}

	server.Close()
	if err := server.Resend(t.Context(), b, sent); !errors.Is(err, ErrFlowClosed) {
		t.Fatalf("Resend after Close: %v, want ErrFlowClosed", err)
	}
}

// keptSlab's copies are equal to what was given, independent of it and
// of each other (appending to one cannot write into the next), across
// chunks; a large datagram gets an allocation of its own.
func TestKeptSlab(t *testing.T) {
	var s keptSlab
	var copies, wants [][]byte
	src := make([]byte, 700)
	for i := range 3 * keptChunk / len(src) { // three chunks' worth
		for j := range src {
			src[j] = byte(i + j)
		}
		c := s.copy(src)
		if len(c) != len(src) || cap(c) != len(c) {
			t.Fatalf("copy %d: len %d cap %d, want %d", i, len(c), cap(c), len(src))
		}
		copies = append(copies, c)
		wants = append(wants, bytes.Clone(src))
		src[0]++ // the caller reuses its buffer
	}
	_ = append(copies[0], 'x', 'y') // must not write into copies[1]
	for i, c := range copies {
		if !bytes.Equal(c, wants[i]) {
			t.Fatalf("copy %d changed", i)
		}
	}
	big := bytes.Repeat([]byte("z"), keptChunk/8+1)
	if c := s.copy(big); !bytes.Equal(c, big) || cap(c) < len(big) {
		t.Fatal("large copy differs")
	}
}
