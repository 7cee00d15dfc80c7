package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

// startRedis runs a private redis-server on a free loopback port, stopped
// by PID at the end of the test.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found (make test installs it)")
		}
		t.Skip("redis-server not found: run `make test`, which installs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

// TestTwoNodesShareRedis: two servers share one redis-server; alice and
// bob register with node A, and alice's call sent to node B is routed by
// B from the shared location service (issue #7).
func TestTwoNodesShareRedis(t *testing.T) {
	addr := startRedis(t)
	a := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "redis", Redis: addr, Admin: "off", Node: "a"})
	b := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "redis", Redis: addr, Admin: "off", Node: "b"})
	nodeA, nodeB := udpAddr(t, a), udpAddr(t, b)
	var ea, eb events
	answered := make(chan *ua.Call, 1)
	alice := phone(t, "alice", nodeA, &ea, nil)
	phone(t, "bob", nodeA, &eb, func(c *ua.Call) { answered <- c })

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	call, err := alice.Dial(ctx, sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1"}, transport.Dest{Network: transport.UDP, Addr: nodeB})
	if err != nil {
		t.Fatalf("dial through node B: %v\nalice:\n%s", err, ea.String())
	}
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("bob did not answer")
	}
	if rs := call.Dialog.RouteSet(); len(rs) != 1 || rs[0].URI.Port != nodeB.Port() {
		t.Errorf("route set %v, want node B's Record-Route", rs)
	}
	_ = call.Hangup(ctx)
}
