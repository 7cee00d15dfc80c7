package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parleysip/parley/sip"
)

type garbageInput struct {
	name string
	data []byte
}

// garbageInputs are the RFC 4475 torture messages (read from the sip
// package's test data) and seeded random byte strings.
func garbageInputs(t *testing.T) []garbageInput {
	files, err := filepath.Glob("../sip/testdata/torture/*.dat")
	if err != nil || len(files) < 40 {
		t.Fatalf("torture files: %d, %v", len(files), err)
	}
	var in []garbageInput
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, garbageInput{filepath.Base(f), b})
	}
	rng := rand.New(rand.NewPCG(4475, 3261))
	for i := range 30 {
		b := make([]byte, 1+rng.IntN(3000))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		if i%3 == 0 {
			// Plausible start lines make the parser go further.
			copy(b, "INVITE sip:x SIP/2.0\r\nVia: ")
		}
		in = append(in, garbageInput{fmt.Sprintf("random%02d", i), b})
	}
	in = append(in, garbageInput{"nul", make([]byte, 64)}, garbageInput{"stunish", []byte("\x00\x01\x00\x00\x21\x12\xa4\x42short")})
	return in
}

// pingServer answers only requests whose Call-ID starts with "ping-", so
// that every other answer must come from the transport itself.
func pingServer(t *testing.T) *Layer {
	server := newLayer(t)
	server.Limits.ReadTimeout = 300 * time.Millisecond
	server.Handler = func(in Incoming) {
		if req, ok := in.Message.(*sip.Request); ok && strings.HasPrefix(req.CallID(), "ping-") {
			server.SendResponse(context.Background(), sip.NewResponse(req, sip.StatusOK), in.Flow)
		}
	}
	return server
}

func pingMsg(n Network, id string) []byte {
	return rawRequest("SIP/2.0/"+n.String()+" 127.0.0.1:9;branch=z9hG4bK"+id+";rport", id, "")
}

// TestGarbageUDP: nothing unparseable is ever answered over UDP.
func TestGarbageUDP(t *testing.T) {
	server := pingServer(t)
	addr := listen(t, server, UDP, "127.0.0.1:0")
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	unparseable := 0
	buf := make([]byte, 65536)
	for i, in := range garbageInputs(t) {
		if _, err := sip.Parse(in.data); err != nil && !isSTUN(in.data) {
			unparseable++
		}
		c.Write(in.data)
		id := fmt.Sprintf("ping-%d", i)
		c.Write(pingMsg(UDP, id))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s: server did not answer the ping: %v", in.name, err)
		}
		if m, err := sip.Parse(buf[:n]); err != nil || m.Headers().CallID() != id {
			t.Fatalf("%s: reply before the ping's answer: %q", in.name, buf[:min(n, 200)])
		}
	}
	if pe := server.Stats().ParseErrors; pe < uint64(unparseable) {
		t.Errorf("ParseErrors = %d, want at least %d", pe, unparseable)
	}
}

// streamOutcome is what a server that answers every request 200 must do
// with data followed by a ping on a stream, worked out with a reference
// sip.Reader: the statuses it answers with, in order, and whether it
// closes the connection.
func streamOutcome(data []byte) (statuses []sip.StatusCode, closes bool) {
	r := sip.NewReader(bytes.NewReader(data), sip.Limits{})
	for {
		m, err := r.ReadMessage()
		if err == nil {
			if req, ok := m.(*sip.Request); ok && req.Method != sip.ACK && req.TopVia() != nil {
				statuses = append(statuses, sip.StatusOK)
			}
			continue
		}
		var pe *sip.ParseError
		if errors.As(err, &pe) {
			if pe.CanRespond() {
				statuses = append(statuses, pe.Status)
			}
			if pe.Framing {
				return statuses, true
			}
			continue
		}
		// io.EOF at a message boundary leaves the connection open; a
		// message cut short waits for ReadTimeout and is closed.
		return statuses, !errors.Is(err, io.EOF)
	}
}

// TestGarbageTCP: over a stream, a 400 (or the status the parse error
// names) when the message can be answered, the connection closed when the
// framing is lost — once the requests read before have been answered —
// and nothing else. The server answers every request 200.
func TestGarbageTCP(t *testing.T) {
	server := pingServer(t)
	server.Handler = func(in Incoming) {
		if req, ok := in.Message.(*sip.Request); ok && req.Method != sip.ACK {
			server.SendResponse(context.Background(), sip.NewResponse(req, sip.StatusOK), in.Flow)
		}
	}
	addr := listen(t, server, TCP, "127.0.0.1:0")
	answered, closed := 0, 0
	defer func() {
		t.Logf("%d inputs answered with an error status, %d closed the connection", answered, closed)
		if answered < 10 || closed < 5 {
			t.Errorf("too few interesting cases: %d answered, %d closed", answered, closed)
		}
	}()
	for i, in := range garbageInputs(t) {
		id := fmt.Sprintf("ping-%d", i)
		data := append(slices.Clip(in.data), pingMsg(TCP, id)...)
		want, closes := streamOutcome(data)
		if slices.ContainsFunc(want, func(s sip.StatusCode) bool { return s != sip.StatusOK }) {
			answered++
		}
		if closes {
			closed++
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(data)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		var got []sip.StatusCode
		var rerr error
		for len(got) < len(want) {
			code, err := readStatus(br)
			if err != nil {
				rerr = err
				break
			}
			got = append(got, code)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: answers %v (%v), want %v", in.name, got, rerr, want)
		}
		if closes {
			wantClosed(t, c, 3*time.Second, in.name)
		}
		c.Close()
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ping(t, c, "ping-final")
}

// TestGarbageWS: each WebSocket message is parsed like a datagram; an
// answerable error gets its status, the connection stays open.
func TestGarbageWS(t *testing.T) {
	server := pingServer(t)
	addr := listen(t, server, WS, "127.0.0.1:0")
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr.String()+"/any/path", &websocket.DialOptions{Subprotocols: []string{"sip"}, HTTPClient: noKeepAlive()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i, in := range garbageInputs(t) {
		var want []sip.StatusCode
		if _, err := sip.Parse(in.data); err != nil {
			var pe *sip.ParseError
			if errors.As(err, &pe) && pe.CanRespond() {
				want = append(want, pe.Status)
			}
		}
		want = append(want, sip.StatusOK)
		id := fmt.Sprintf("ping-%d", i)
		ws.Write(ctx, websocket.MessageBinary, in.data)
		ws.Write(ctx, websocket.MessageText, pingMsg(WS, id))
		var got []sip.StatusCode
		for len(got) < len(want) {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, b, err := ws.Read(rctx)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v (got %v)", in.name, err, got)
			}
			code, err := readStatus(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("%s: server sent %q: %v", in.name, b, err)
			}
			got = append(got, code)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: answers %v, want %v", in.name, got, want)
		}
	}
}

// TestWSSubprotocolRequired: RFC 7118 §4.1, a handshake without "sip" is
// refused.
func TestWSSubprotocolRequired(t *testing.T) {
	server := pingServer(t)
	addr := listen(t, server, WS, "[::1]:0")
	for _, protos := range [][]string{nil, {"chat"}} {
		ws, resp, err := websocket.Dial(context.Background(), "ws://"+addr.String()+"/", &websocket.DialOptions{Subprotocols: protos, HTTPClient: noKeepAlive()})
		if err == nil {
			ws.CloseNow()
			t.Errorf("subprotocols %v: handshake accepted", protos)
			continue
		}
		if resp == nil || resp.StatusCode != 400 {
			t.Errorf("subprotocols %v: %v, want HTTP 400", protos, err)
		}
	}
	if n := server.Stats().ConnsAccepted; n != 2 {
		t.Errorf("ConnsAccepted = %d", n)
	}
	eventually(t, 5*time.Second, "refused connections closed", func() bool { return server.Stats().ConnsOpen == 0 })
}

func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// readStatus reads one response from a stream and returns its status. It
// frames by Content-Length but parses nothing else: answers to broken
// requests echo the broken header fields (§8.2.6.2), which a full parse
// would reject.
func readStatus(r *bufio.Reader) (sip.StatusCode, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var code int
	if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err != nil {
		return 0, fmt.Errorf("status line %q: %w", line, err)
	}
	cl := 0
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(h, "Content-Length:"); ok {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := r.Discard(cl); err != nil {
		return 0, err
	}
	return sip.StatusCode(code), nil
}

// TestFramingErrorAnswersFirst: a request read before a framing error on
// a stream is still answered on its connection (RFC 3261 §18.2.2, RFC
// 4475 §3.1.1.8 sent over TCP), even when its answer comes later; then
// the connection closes. Meanwhile it is out of the pool: a request to
// the peer does not go out on it. A request that is never answered does
// not hold Shutdown.
func TestFramingErrorAnswersFirst(t *testing.T) {
	server := newLayer(t)
	release := make(chan struct{})
	server.Handler = func(in Incoming) {
		req, ok := in.Message.(*sip.Request)
		if !ok || req.CallID() == "never" {
			return
		}
		go func() {
			<-release
			server.SendResponse(context.Background(), sip.NewResponse(req, sip.StatusOK), in.Flow)
		}()
	}
	addr := listen(t, server, TCP, "127.0.0.1:0")
	garbage := []byte("OPTIONS sip:bob@example.com SIP/2.0\r\nContent-Length: -1\r\n\r\n")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(pingMsg(TCP, "first"), garbage...))
	eventually(t, 5*time.Second, "the framing error", func() bool { return server.Stats().ParseErrors == 1 })
	// The connection is lingering, not pooled: this dials the client's
	// port, where nothing listens.
	peer := netip.MustParseAddrPort(c.LocalAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := server.SendRequest(ctx, newRequest(t, sip.OPTIONS, nil), Dest{Network: TCP, Addr: peer}); err == nil {
		t.Error("a request went out on the connection whose framing is lost")
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	m, err := readSIP(t, c, 5*time.Second)
	if err != nil {
		t.Fatalf("no answer to the request before the framing error: %v", err)
	}
	if res, ok := m.(*sip.Response); !ok || res.StatusCode != sip.StatusOK || res.CallID() != "first" {
		t.Fatalf("got %v", m)
	}
	wantClosed(t, c, 3*time.Second, "connection after its last answer")

	// Unanswered: Shutdown closes it as idle.
	c2, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write(append(pingMsg(TCP, "never"), garbage...))
	eventually(t, 5*time.Second, "the second framing error", func() bool { return server.Stats().ParseErrors == 2 })
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := server.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown with a lingering connection: %v", err)
	}
	wantClosed(t, c2, time.Second, "lingering connection at Shutdown")
}
