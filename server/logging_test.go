package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
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

// TestStatelessMetricsAndLogs: in stateless proxy mode (§16.11) the
// requests the proxy forwards or answers never reach the handler chain;
// they are still counted in /metrics and logged with a "request" line.
// One MESSAGE is forwarded to a registered UA (200 relayed back), one to
// an unregistered user is answered statelessly.
func TestStatelessMetricsAndLogs(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "127.0.0.1:0"}
	cfg.Proxy.Mode = "stateless"
	s := startLogged(t, cfg, log)
	srv := udpAddr(t, s)
	bob, carol := newGRUUUA(t, "bob"), newGRUUUA(t, "carol")
	if res, _ := bob.register(t, srv, "<"+bob.contact.String()+">", "reg-bob", false); res.StatusCode != sip.StatusOK {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	if code := carol.message(t, srv, "sip:alice@127.0.0.1"); code != sip.StatusOK {
		t.Fatalf("MESSAGE to the registered AoR: %d", code)
	}
	if code := carol.message(t, srv, "sip:nobody@127.0.0.1"); code != sip.StatusNotFound && code != sip.StatusTemporarilyUnavailable {
		t.Fatalf("MESSAGE to nobody: %d", code)
	}
	// A response is counted once its write returned, which may be just
	// after the UA read it: wait for the counters (bounded).
	waitMetrics(t, s,
		`sip_common_stats_in_requests_total{method="MESSAGE"} 2`,
		`sip_common_stats_out_requests_total{method="MESSAGE"} 1`,
		`sip_common_status_code_ins_total{class="2xx"} 1`,
		`sip_common_status_code_outs_total{class="4xx"} 1`,
		// The REGISTER's 200 and the relayed MESSAGE 200.
		`sip_common_status_code_outs_total{class="2xx"} 2`,
	)
	var forwarded, answered int
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec[KeyMethod] != "MESSAGE" {
			continue
		}
		if rec[KeyCallID] == "" || rec[KeyRemote] == nil {
			t.Errorf("request line without call_id or remote: %s", line)
		}
		switch {
		case rec[KeyForwardedTo] == "UDP:"+bob.contact.Host+":"+strconv.Itoa(int(bob.contact.Port)):
			forwarded++
		case rec[KeyStatus] == float64(404) || rec[KeyStatus] == float64(480):
			answered++
		default:
			t.Errorf("unexpected request line: %s", line)
		}
	}
	if forwarded != 1 || answered != 1 {
		t.Errorf("request lines: %d forwarded, %d answered; want 1 and 1\n%s", forwarded, answered, buf.String())
	}
}

// waitMetrics reads /metrics until it holds every line of want, for at
// most 2 s; it reports the lines still missing then.
func waitMetrics(t *testing.T, s *Server, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		text := metricsText(t, s)
		var missing []string
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return text
		}
		if time.Now().After(deadline) {
			t.Errorf("/metrics lacks %q:\n%s", missing, text)
			return text
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricsText fetches /metrics from s's admin listener.
func metricsText(t *testing.T, s *Server) string {
	t.Helper()
	r, err := http.Get("http://" + s.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
