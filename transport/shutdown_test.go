package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

// TestShutdown: Shutdown stops accepting, lets a message being read
// finish (and be answered), closes everything and leaves no goroutine.
func TestShutdown(t *testing.T) {
	server := &Layer{TLSConfig: serverTLS(), Limits: testLimits}
	echo(server)
	client := &Layer{ClientTLSConfig: clientTLS(), Limits: testLimits}
	got := collect(client)
	addrs := map[Network]string{}
	for _, n := range allNetworks {
		for _, host := range loopbacks {
			a := listen(t, server, n, net.JoinHostPort(host, "0"))
			addrs[n] = a.String()
			req := newRequest(t, sip.OPTIONS, nil)
			if _, err := client.SendRequest(context.Background(), req, Dest{Network: n, Addr: a}); err != nil {
				t.Fatalf("%v %s: %v", n, host, err)
			}
			waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
		}
	}
	busy, err := net.Dial("tcp", addrs[TCP])
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	msg := rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbusy", "in-flight", "")
	busy.Write(msg[:50])
	// Wait for this connection to be busy, not just any: under load an
	// earlier connection can still be between messages.
	busyFrom := busy.LocalAddr().(*net.TCPAddr).AddrPort()
	eventually(t, 5*time.Second, "the half message to arrive", func() bool {
		server.mu.Lock()
		defer server.mu.Unlock()
		for _, c := range server.conns {
			if c.remote == busyFrom && c.state.Load() == stateBusy {
				return true
			}
		}
		return false
	})

	done := make(chan error, 1)
	go func() { done <- server.Shutdown(context.Background()) }()
	eventually(t, 5*time.Second, "listeners to close", func() bool {
		c, err := net.DialTimeout("tcp", addrs[TCP], time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a message was being read", err)
	case <-time.After(100 * time.Millisecond):
	}
	busy.Write(msg[50:])
	m, err := readSIP(t, busy, 5*time.Second)
	if err != nil || m.Headers().CallID() != "in-flight" {
		t.Fatalf("in-flight request not answered: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	wantClosed(t, busy, 2*time.Second, "connection after Shutdown")
	if st := server.Stats(); st.ConnsOpen != 0 {
		t.Errorf("ConnsOpen = %d after Shutdown", st.ConnsOpen)
	}
	if _, err := server.SendRequest(context.Background(), newRequest(t, sip.OPTIONS, nil), Dest{Network: TCP, Addr: netip.MustParseAddrPort("127.0.0.1:9")}); !errors.Is(err, ErrClosed) {
		t.Errorf("SendRequest after Shutdown: %v", err)
	}
	if _, err := server.Listen(context.Background(), UDP, "127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Shutdown: %v", err)
	}
	client.Close()
	if leaked := leakedGoroutines(5 * time.Second); len(leaked) > 0 {
		t.Errorf("goroutines left:\n%s", strings.Join(leaked, "\n\n"))
	}
}

// TestShutdownDeadline: when ctx ends first, Shutdown closes everything,
// busy connections included, and returns ctx.Err().
func TestShutdownDeadline(t *testing.T) {
	server := &Layer{Limits: testLimits}
	echo(server)
	addr := listen(t, server, TCP, "127.0.0.1:0")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("OPTIONS sip:x SIP/2.0\r\n"))
	eventually(t, 5*time.Second, "connection accepted", func() bool { return server.Stats().ConnsAccepted == 1 })
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := server.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	wantClosed(t, c, 2*time.Second, "busy connection")
	if leaked := leakedGoroutines(5 * time.Second); len(leaked) > 0 {
		t.Errorf("goroutines left:\n%s", strings.Join(leaked, "\n\n"))
	}
}
