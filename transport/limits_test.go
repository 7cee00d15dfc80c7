package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parleysip/parley/sip"
)

// ping checks that a raw connection is served: a request gets its answer.
func ping(t *testing.T, c net.Conn, id string) {
	t.Helper()
	if _, err := c.Write(rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK"+id, id, "")); err != nil {
		t.Fatalf("%s: write: %v", id, err)
	}
	m, err := readSIP(t, c, 5*time.Second)
	if err != nil || m.Headers().CallID() != id {
		t.Fatalf("%s: no answer: %v", id, err)
	}
}

// wantClosed checks that the server closes c within d.
func wantClosed(t *testing.T, c net.Conn, d time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if isTimeout(err) {
			t.Fatalf("%s: still open after %v", what, d)
		}
		return time.Since(start)
	}
}

func TestConnLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		stat   func(Stats) uint64
	}{
		{"MaxConnsPerIP", Limits{MaxConnsPerIP: 3}, func(s Stats) uint64 { return s.Limits.ConnsPerIP }},
		{"MaxConns", Limits{MaxConns: 3}, func(s Stats) uint64 { return s.Limits.Conns }},
	}
	for _, tt := range tests {
		for _, n := range []Network{TCP, WS} {
			t.Run(tt.name+"/"+n.String(), func(t *testing.T) {
				server := newLayer(t)
				server.Limits = tt.limits
				echo(server)
				addr := listen(t, server, n, "127.0.0.1:0")
				var conns []net.Conn
				for i := range 3 {
					c := dialRaw(t, n, addr)
					conns = append(conns, c)
					if n == TCP {
						ping(t, c, fmt.Sprintf("ok%d", i))
					}
				}
				eventually(t, 5*time.Second, "3 connections open", func() bool { return server.Stats().ConnsOpen == 3 })
				// Refused at once: the reset may even beat the end of connect.
				if fourth, err := net.Dial("tcp", addr.String()); err == nil {
					wantClosed(t, fourth, 2*time.Second, "4th connection")
					fourth.Close()
				}
				eventually(t, 5*time.Second, "the 4th connection to be refused", func() bool { return tt.stat(server.Stats()) >= 1 })
				if got := tt.stat(server.Stats()); got != 1 {
					t.Errorf("limit counter = %d, want 1", got)
				}
				if n == TCP {
					for i, c := range conns {
						ping(t, c, fmt.Sprintf("still%d", i))
					}
				}
				// Closing one makes room for another.
				conns[0].Close()
				eventually(t, 5*time.Second, "room for a connection", func() bool { return server.Stats().ConnsOpen == 2 })
				c := dialRaw(t, n, addr)
				if n == TCP {
					ping(t, c, "again")
				}
			})
		}
	}
	t.Run("dial", func(t *testing.T) {
		server := newLayer(t)
		echo(server)
		a1 := listen(t, server, TCP, "127.0.0.1:0")
		a2 := listen(t, server, TCP, "127.0.0.1:0")
		client := newLayer(t)
		client.Limits.MaxConns = 1
		collect(client)
		if _, err := client.SendRequest(context.Background(), newRequest(t, sip.OPTIONS, nil), Dest{Network: TCP, Addr: a1}); err != nil {
			t.Fatal(err)
		}
		_, err := client.SendRequest(context.Background(), newRequest(t, sip.OPTIONS, nil), Dest{Network: TCP, Addr: a2})
		if !errors.Is(err, ErrTooManyConns) {
			t.Errorf("second dial: %v, want ErrTooManyConns", err)
		}
	})
}

// dialRaw opens a raw TCP connection, or for WS an HTTP connection that
// has not upgraded (it counts against the limits all the same).
func dialRaw(t *testing.T, _ Network, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTimeouts: a half-sent message is cut at ReadTimeout, a silent
// connection at IdleTimeout, a TLS handshake that never comes at
// TLSHandshakeTimeout; a busy healthy connection is untouched.
func TestTimeouts(t *testing.T) {
	server := newLayer(t)
	server.Limits = Limits{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 1200 * time.Millisecond, TLSHandshakeTimeout: 300 * time.Millisecond}
	echo(server)
	addr := listen(t, server, TCP, "127.0.0.1:0")
	tlsAddr := listen(t, server, TLS, "127.0.0.1:0")

	healthy := dialRaw(t, TCP, addr)
	stop := make(chan struct{})
	healthyErr := make(chan error, 1)
	go func() {
		// A message every 100 ms, each sent in two halves 50 ms apart.
		var err error
		defer func() { healthyErr <- err }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			id := fmt.Sprintf("healthy%d", i)
			msg := rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK"+id, id, "")
			if _, err = healthy.Write(msg[:40]); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
			if _, err = healthy.Write(msg[40:]); err != nil {
				return
			}
			healthy.SetReadDeadline(time.Now().Add(5 * time.Second))
			var m sip.Message
			if m, err = sip.NewReader(healthy, sip.Limits{}).ReadMessage(); err != nil {
				return
			}
			if m.Headers().CallID() != id {
				err = fmt.Errorf("answer for %q, want %q", m.Headers().CallID(), id)
				return
			}
		}
	}()

	slow := dialRaw(t, TCP, addr)
	idle := dialRaw(t, TCP, addr)
	hs := dialRaw(t, TLS, tlsAddr)
	msg := rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKslow", "slow", "")
	slow.Write(msg[:len(msg)/2])

	var wg sync.WaitGroup
	durations := make(map[string]time.Duration)
	var mu sync.Mutex
	for name, c := range map[string]net.Conn{"slowloris": slow, "idle": idle, "handshake": hs} {
		wg.Go(func() {
			d := wantClosed(t, c, 5*time.Second, name)
			mu.Lock()
			durations[name] = d
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	if err := <-healthyErr; err != nil {
		t.Errorf("healthy connection: %v", err)
	}
	for name, r := range map[string][2]time.Duration{
		"slowloris": {250 * time.Millisecond, 1000 * time.Millisecond},
		"handshake": {250 * time.Millisecond, 1000 * time.Millisecond},
		"idle":      {1100 * time.Millisecond, 3 * time.Second},
	} {
		if d := durations[name]; d < r[0] || d > r[1] {
			t.Errorf("%s closed after %v, want within [%v, %v]", name, d, r[0], r[1])
		}
	}
	st := server.Stats().Limits
	if st.ReadTimeout != 1 || st.IdleTimeout != 1 || st.TLSHandshakeTimeout != 1 {
		t.Errorf("limit counters: read %d, idle %d, TLS %d; want 1 each", st.ReadTimeout, st.IdleTimeout, st.TLSHandshakeTimeout)
	}
}

// TestMessageSizeLimit: a stream message over MaxMessageSize closes the
// connection; a datagram over it is dropped.
func TestMessageSizeLimit(t *testing.T) {
	server := newLayer(t)
	server.Limits.MaxMessageSize = 1000
	echo(server)
	addr := listenUDPTCP(t, server, "127.0.0.1")
	big := rawRequest("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig", "big", string(make([]byte, 2000)))
	c := dialRaw(t, TCP, addr)
	c.Write(big)
	wantClosed(t, c, 5*time.Second, "oversized stream message")
	u, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write(big)
	eventually(t, 5*time.Second, "the datagram to be dropped", func() bool { return server.Stats().DatagramsDropped == 1 })
	if s := server.Stats().Limits.MessageSize; s != 2 {
		t.Errorf("MessageSize limit hits = %d, want 2", s)
	}
}

// TestConnChurn opens and closes 10,000 TCP connections in batches of 200
// and checks that no goroutine or file descriptor is left behind.
func TestConnChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	server := newLayer(t)
	server.Limits.MaxConnsPerIP = 500
	echo(server)
	addr := listen(t, server, TCP, "127.0.0.1:0")
	time.Sleep(10 * time.Millisecond)
	g0, fd0 := countGoroutines(), countFDs(t)
	const total, batch = 10000, 200
	for done := 0; done < total; done += batch {
		var wg sync.WaitGroup
		errs := make(chan error, batch)
		for range batch {
			wg.Go(func() {
				c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				// A keep-alive round trip proves the server served it.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
					errs <- err
					return
				}
				buf := make([]byte, 2)
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("after %d connections: %v", done, err)
		}
	}
	eventually(t, 10*time.Second, "all connections closed", func() bool { return server.Stats().ConnsOpen == 0 })
	st := server.Stats()
	if st.ConnsAccepted != total || st.ConnsClosed != total || st.KeepAlives != total {
		t.Errorf("accepted %d, closed %d, keep-alives %d; want %d each", st.ConnsAccepted, st.ConnsClosed, st.KeepAlives, total)
	}
	eventually(t, 5*time.Second, "goroutines back to the start", func() bool { return countGoroutines() <= g0+2 })
	if fd := countFDs(t); fd > fd0+5 {
		t.Errorf("file descriptors: %d before, %d after", fd0, fd)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestWSTimeouts: the same limits on WebSocket connections. A message
// left half-sent (a first fragment, then nothing) is cut at ReadTimeout, a
// silent connection at IdleTimeout, a busy one is untouched.
func TestWSTimeouts(t *testing.T) {
	server := newLayer(t)
	server.Limits = Limits{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 1200 * time.Millisecond}
	echo(server)
	addr := listen(t, server, WS, "127.0.0.1:0")
	ctx := context.Background()
	dial := func() *websocket.Conn {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr.String()+"/", &websocket.DialOptions{Subprotocols: []string{"sip"}, HTTPClient: noKeepAlive()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		return ws
	}
	healthy, slow, idle := dial(), dial(), dial()

	// The first fragment of a message larger than the writer's buffer goes
	// out at once; the rest never comes.
	w, err := slow.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(rawRequest("SIP/2.0/WS 127.0.0.1:9;branch=z9hG4bKwsslow", "ws-slow", string(make([]byte, 20000)))[:10000])

	closedAfter := func(ws *websocket.Conn) chan time.Duration {
		ch := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			for {
				if _, _, err := ws.Read(rctx); err != nil {
					ch <- time.Since(start)
					return
				}
			}
		}()
		return ch
	}
	slowDone, idleDone := closedAfter(slow), closedAfter(idle)
	for i := 0; i < 12; i++ { // 1.8 s of traffic on the healthy one
		id := fmt.Sprintf("ws-healthy-%d", i)
		if err := healthy.Write(ctx, websocket.MessageText, rawRequest("SIP/2.0/WS 127.0.0.1:9;branch=z9hG4bK"+id, id, "")); err != nil {
			t.Fatalf("healthy write %d: %v", i, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, b, err := healthy.Read(rctx)
		cancel()
		if err != nil || !strings.Contains(string(b), id) {
			t.Fatalf("healthy round trip %d: %v", i, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	for name, tc := range map[string]struct {
		ch     chan time.Duration
		lo, hi time.Duration
	}{
		"slowloris": {slowDone, 250 * time.Millisecond, time.Second},
		"idle":      {idleDone, 1100 * time.Millisecond, 3 * time.Second},
	} {
		if d := <-tc.ch; d < tc.lo || d > tc.hi {
			t.Errorf("%s WebSocket closed after %v, want within [%v, %v]", name, d, tc.lo, tc.hi)
		}
	}
	st := server.Stats().Limits
	if st.ReadTimeout != 1 || st.IdleTimeout != 1 {
		t.Errorf("limit counters: read %d, idle %d; want 1, 1", st.ReadTimeout, st.IdleTimeout)
	}
}
