package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// peer is an in-process SIP server recording what it receives.
type peer struct {
	addr netip.AddrPort
	mu   sync.Mutex
	got  []*sip.Request
}

func (p *peer) requests() []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*sip.Request(nil), p.got...)
}

func newPeer(t *testing.T, n transport.Network, status sip.StatusCode) *peer {
	t.Helper()
	p := &peer{}
	h := stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		p.mu.Lock()
		p.got = append(p.got, r)
		p.mu.Unlock()
		res := sip.NewResponse(r, status)
		_ = res.Add("Server", "parley-test")
		_ = w.Respond(res)
	})
	s := &stack.Server{Handler: h}
	ln, err := s.Listen(t.Context(), n, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	p.addr = ln.Addr()
	return p
}

func TestOptions(t *testing.T) {
	for _, n := range []transport.Network{transport.UDP, transport.TCP} {
		t.Run(n.String(), func(t *testing.T) {
			p := newPeer(t, n, sip.StatusOK)
			target := fmt.Sprintf("sip:%s", p.addr)
			code, out, errs := runCmd(t, "", "options", "--transport", strings.ToLower(n.String()), "-c", "3", "-i", "10ms", "-v", target)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errs)
			}
			if strings.Count(out, "200 OK from "+target) != 3 || !strings.Contains(out, "3 requests, 3 answered 2xx") || !strings.Contains(out, `server="parley-test"`) {
				t.Errorf("output:\n%s", out)
			}
			if !strings.Contains(errs, "OPTIONS "+target+" SIP/2.0") || !strings.Contains(errs, "<--") {
				t.Errorf("-v did not print the messages:\n%s", errs)
			}
			got := p.requests()
			if len(got) != 3 || got[0].CallID() == got[1].CallID() || got[0].Get("Accept") != "application/sdp" {
				t.Errorf("peer got %d requests", len(got))
			}
		})
	}
}

func TestOptionsFailures(t *testing.T) {
	p := newPeer(t, transport.UDP, sip.StatusNotFound)
	code, out, _ := runCmd(t, "", "options", fmt.Sprintf("sip:%s", p.addr))
	if code != 1 || !strings.Contains(out, "404 Not Found") {
		t.Errorf("404: exit %d, output %q", code, out)
	}
	// Nobody listens on TCP port 1: a transport failure, exit 1.
	code, _, errs := runCmd(t, "", "options", "--transport", "tcp", "--timeout", "2s", "sip:127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "transport failure") {
		t.Errorf("refused: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCmd(t, "", "options", "--transport", "carrier-pigeon", "sip:127.0.0.1"); code != 2 {
		t.Errorf("bad transport: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "", "options", "mailto:a@b"); code != 2 {
		t.Errorf("non-SIP target: exit %d, want 2", code)
	}
}

func TestMessage(t *testing.T) {
	p := newPeer(t, transport.UDP, sip.StatusAccepted)
	code, out, errs := runCmd(t, "", "message", fmt.Sprintf("sip:bob@%s", p.addr), "hello there")
	if code != 0 || !strings.Contains(out, "202 Accepted") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	got := p.requests()
	if len(got) != 1 || got[0].Method != sip.MESSAGE || string(got[0].Body) != "hello there" || got[0].ContentType() != "text/plain" {
		t.Errorf("peer got %v", got)
	}
}

func TestProxyRoute(t *testing.T) {
	// The "proxy" is the peer itself: the request carries a Route to it and
	// is sent there, whatever the Request-URI says.
	p := newPeer(t, transport.UDP, sip.StatusOK)
	code, _, errs := runCmd(t, "", "options", "--proxy", fmt.Sprintf("sip:%s", p.addr), "sip:bob@example.invalid")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := p.requests()
	if len(got) != 1 || len(got[0].Routes()) != 1 || !got[0].Routes()[0].URI.Params.Has("lr") || got[0].URI.Host != "example.invalid" {
		t.Errorf("peer got %v", got)
	}
}

func TestSend(t *testing.T) {
	p := newPeer(t, transport.UDP, sip.StatusOK)
	msg := "REGISTER sip:example.com SIP/2.0\r\n" +
		"To: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\n" +
		"Call-ID: send-test\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n" +
		"Contact: <sip:alice@127.0.0.1>\r\nContent-Length: 0\r\n\r\n"
	file := filepath.Join(t.TempDir(), "reg.sip")
	if err := os.WriteFile(file, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "", "send", "--to", fmt.Sprintf("sip:%s", p.addr), file)
	if code != 0 || !strings.HasPrefix(out, "SIP/2.0 200 OK\r\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	got := p.requests()
	if len(got) != 1 || got[0].CallID() != "send-test" || got[0].Method != sip.REGISTER {
		t.Errorf("peer got %v", got)
	}
	if code, _, _ := runCmd(t, "SIP/2.0 200 OK\r\n\r\n", "send", "-"); code != 1 {
		t.Errorf("malformed/response input: exit %d, want 1", code)
	}
}
