package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestLogs: with a JSON debug log, each request handled gets one
// "request" line with call_id, method, uri, status, remote and duration;
// every line about a request (any line with a method, and the proxy's
// lines) carries its call_id.
func TestRequestLogs(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"}
	cfg.Defaults()
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := udpAddr(t, s)
	c := &stack.Client{}
	defer c.Close()
	sent := map[string]sip.StatusCode{}
	for _, to := range []sip.URI{
		{Scheme: "sip", User: "nobody", Host: "127.0.0.1"}, // 404
		{Scheme: "sip", User: "x", Host: "example.org"},    // 403
		{Scheme: "sip", User: "echo", Host: "127.0.0.1"},   // 404 too
	} {
		req := ua.NewRequest(sip.MESSAGE, to, ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "t", Host: "example.net"}}})
		res, err := c.Do(t.Context(), req, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: addr}))
		if err != nil {
			t.Fatal(err)
		}
		sent[req.CallID()] = res.StatusCode
	}
	shutdown(t, s)

	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		msg, _ := rec["msg"].(string)
		_, hasMethod := rec[KeyMethod]
		if hasMethod || msg == "request" || strings.HasPrefix(msg, "proxy:") {
			id, _ := rec[KeyCallID].(string)
			if id == "" {
				t.Errorf("a request's log line without %s: %s", KeyCallID, line)
			}
		}
		if msg != "request" {
			continue
		}
		id := rec[KeyCallID].(string)
		want, ok := sent[id]
		if !ok {
			t.Errorf("request line for an unknown call: %s", line)
			continue
		}
		seen[id] = true
		if rec[KeyMethod] != "MESSAGE" || rec[KeyStatus] != float64(want) || !strings.HasPrefix(rec[KeyRemote].(string), "UDP:127.0.0.1:") ||
			rec[KeyURI] == nil || rec[KeyDuration] == nil {
			t.Errorf("request line %s, want status %d", line, want)
		}
	}
	if len(seen) != len(sent) {
		t.Errorf("%d request lines for %d requests:\n%s", len(seen), len(sent), buf.String())
	}
}

func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}
