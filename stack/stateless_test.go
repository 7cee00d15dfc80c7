package stack

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// TestStatelessForwarding runs the §16.11 primitives: a request forwarded
// statelessly by P reaches A; A's response comes back to P, matches no
// client transaction, and is forwarded statelessly to the next Via — a raw
// UDP socket standing for the caller.
func TestStatelessForwarding(t *testing.T) {
	_, aAddr := newServer(t, respond(sip.StatusOK), transport.UDP)
	var p *Server
	p, _ = newServer(t, nil, transport.UDP, func(s *Server) {
		s.OnResponse = func(res *sip.Response, _ transport.Flow) {
			if err := p.ForwardResponseStateless(context.Background(), res); err != nil {
				t.Errorf("forward response: %v", err)
			}
		}
	})
	caller, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	callerAddr := caller.LocalAddr().(*net.UDPAddr).AddrPort()

	req := request(sip.OPTIONS, aAddr)
	// The caller's Via, then P's own on top with a new branch (§16.11).
	req.PrependVia(sip.Via{Transport: "UDP", Host: "127.0.0.1", Port: callerAddr.Port(), Params: ";branch=z9hG4bKcaller1"})
	req.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: sip.Params(";branch=" + sip.NewBranch())})
	if _, err := p.ForwardStateless(t.Context(), req, transport.Dest{Network: transport.UDP, Addr: aAddr}); err != nil {
		t.Fatal(err)
	}
	_ = caller.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := caller.Read(buf)
	if err != nil {
		t.Fatalf("caller got nothing: %v", err)
	}
	m, err := sip.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != sip.StatusOK || len(res.Vias()) != 1 || res.TopVia().Branch() != "z9hG4bKcaller1" {
		t.Fatalf("caller got:\n%s", m)
	}

	// RespondStateless answers on the flow a request came on.
	flow := transport.Flow{Network: transport.UDP, Remote: callerAddr}
	res2 := sip.NewResponse(req, sip.StatusNotFound)
	res2.RemoveTopVia()
	if err := p.RespondStateless(t.Context(), res2, flow); err != nil {
		t.Fatal(err)
	}
	n, err = caller.Read(buf)
	if err != nil {
		t.Fatalf("no stateless response: %v", err)
	}
	if m, err := sip.Parse(buf[:n]); err != nil || m.(*sip.Response).StatusCode != sip.StatusNotFound {
		t.Fatalf("stateless response: %v %v", m, err)
	}
}
