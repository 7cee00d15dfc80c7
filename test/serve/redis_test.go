package serve_test

// Issue #7: two `parley serve` processes share one redis-server; a binding
// written through node A routes calls sent to node B, and its removal
// through node B stops node A from routing.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/server"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

// startRedisServer runs a private redis-server on a free loopback port,
// killed by PID at the end of the test. Without redis-server the test is
// skipped, or fails in CI.
func startRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found (make test installs it)")
		}
		t.Skip("redis-server not found: run `make test`, which installs it")
	}
	port := freePort(t, "tcp")
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

// startRedisNode starts `parley serve` as node `node` of a cluster sharing
// the redis-server at redisAddr, and waits (bounded) until /readyz.
func startRedisNode(t *testing.T, bin, node, redisAddr string, sipPort, adminPort int) *proc {
	t.Helper()
	dir := t.TempDir()
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	hash, err := server.HashAdminPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "parley.yaml")
	yaml := fmt.Sprintf("store: redis\nredis: %s\nnode: %s\nadmin_user: %s\nadmin_password: %q\n", redisAddr, node, adminUser, hash)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", sipPort),
		"--data", filepath.Join(dir, "data"), "--admin", admin, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get("http://" + admin + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return &proc{cmd: cmd, admin: admin}
			}
		}
	}
	t.Fatalf("node %s did not become ready", node)
	return nil
}

// bindingsOf returns the contacts /registrations lists for aor.
func bindingsOf(t *testing.T, admin, aor string) []string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+admin+"/registrations", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(adminUser, adminPassword)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s/registrations: %s", admin, r.Status)
	}
	var body struct {
		Registrations []struct{ AoR, Contact string }
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range body.Registrations {
		if b.AoR == aor {
			out = append(out, b.Contact)
		}
	}
	return out
}

// TestRedisTwoServeProcesses: bob registers with node A; `parley call`
// sent to node B reaches `parley answer` at bob's contact (200, ACK, BYE
// through B), so B routed with the binding A wrote to the shared Redis;
// bob unregisters through node B, and node A then answers 404 (the
// router's answer for an AoR without bindings, proxy.LocationRouter).
func TestRedisTwoServeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	redisAddr := startRedisServer(t)
	bin := buildParley(t)
	sipA, adminA, sipB, adminB := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	ansPort := freePort(t, "udp")
	a := startRedisNode(t, bin, "A", redisAddr, sipA, adminA)
	b := startRedisNode(t, bin, "B", redisAddr, sipB, adminB)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	answer, aout := background(t, ctx, bin, "answer", "--local", fmt.Sprintf("127.0.0.1:%d", ansPort), "--count", "1", "--user", "bob")

	const aor = "sip:bob@127.0.0.1"
	contact := fmt.Sprintf("sip:bob@127.0.0.1:%d", ansPort)
	loopback := netip.MustParseAddr("127.0.0.1")
	destA := transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(loopback, uint16(sipA))}
	destB := transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(loopback, uint16(sipB))}
	c := &stack.Client{}
	defer c.Close()
	reg := &ua.Registration{Client: c, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
		AoR:     sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1"},
		Contact: sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: uint16(ansPort)},
		Options: []stack.Option{stack.WithDest(destA)}}
	if _, err := reg.Register(ctx); err != nil {
		t.Fatalf("REGISTER with node A: %v", err)
	}
	if got := bindingsOf(t, b.admin, aor); len(got) != 1 || got[0] != "<"+contact+">" {
		t.Fatalf("node B lists %q for %s, want [<%s>]", got, aor, contact)
	}

	proxyB := fmt.Sprintf("sip:127.0.0.1:%d", sipB)
	out, err := exec.CommandContext(ctx, bin, "call", "-vv", "--proxy", proxyB, "--duration", "1s", aor).CombinedOutput()
	if err != nil {
		t.Fatalf("call through node B: %v\n%s\nanswer:\n%s", err, out, aout.String())
	}
	if err := answer.Wait(); err != nil {
		t.Fatalf("answer: %v\n%s", err, aout.String())
	}
	// Node B record-routes: the ACK and BYE go through it too (§16.6).
	for _, want := range []string{"<-- 200 OK (INVITE)", "<-- 200 OK (BYE)",
		fmt.Sprintf("--> 127.0.0.1:%d  INVITE %s SIP/2.0", sipB, aor),
		fmt.Sprintf("--> 127.0.0.1:%d  ACK %s SIP/2.0", sipB, contact),
		fmt.Sprintf("--> 127.0.0.1:%d  BYE %s SIP/2.0", sipB, contact)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("caller ladder lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(aout.String(), "<-- INVITE "+contact) {
		t.Errorf("callee did not get the INVITE at its contact:\n%s", aout.String())
	}

	// The same UA unregisters through node B (same Call-ID, next CSeq).
	reg.Options = []stack.Option{stack.WithDest(destB)}
	if err := reg.Unregister(ctx); err != nil {
		t.Fatalf("unregister with node B: %v", err)
	}
	if got := bindingsOf(t, a.admin, aor); len(got) != 0 {
		t.Fatalf("node A still lists %q for %s after the unregistration through B", got, aor)
	}
	proxyA := fmt.Sprintf("sip:127.0.0.1:%d", sipA)
	out, err = exec.CommandContext(ctx, bin, "call", "--proxy", proxyA, "--duration", "1s", aor).CombinedOutput()
	if err == nil {
		t.Fatalf("call through node A after the unregistration succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "call refused: 404") {
		t.Errorf("call through node A after the unregistration: %v, want 404:\n%s", err, out)
	}
}
