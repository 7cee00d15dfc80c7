// Package serve_test runs the parley binary as a separate process: the
// durability of "a 200 to a REGISTER means the binding is on disk" across
// kill -9 (issue #7), over real UDP on loopback.
package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleysip/parley/server"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		// Free for TCP too: parley answer without --transport listens on
		// both (RFC 3261 §18.2.1).
		for range 20 {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := c.LocalAddr().(*net.UDPAddr).Port
			l, err := net.Listen("tcp", c.LocalAddr().String())
			c.Close()
			if err == nil {
				l.Close()
				return port
			}
		}
		t.Fatal("no port free for both UDP and TCP")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildParley builds the binary once per test run.
func buildParley(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parley")
		build := exec.Command("go", "build", "-o", binPath, "github.com/parleysip/parley/cmd/parley")
		build.Stderr = os.Stderr
		buildErr = build.Run()
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

// The admin login of the servers these tests start.
const adminUser, adminPassword = "root", "test-admin-password"

type proc struct {
	cmd   *exec.Cmd
	admin string
}

// startServe starts `parley serve` and waits (bounded) until /readyz.
func startServe(t *testing.T, bin, data string, sipPort, adminPort int, args ...string) *proc {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	// /registrations needs the admin login (DESIGN.md).
	cfg := filepath.Join(t.TempDir(), "parley.yaml")
	hash, err := server.HashAdminPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "admin_user: %s\nadmin_password: %q\n", adminUser, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--config", cfg, "--listen", fmt.Sprintf("udp:127.0.0.1:%d", sipPort), "--data", data,
		"--admin", admin, "--log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, admin: admin}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get("http://" + admin + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("parley serve did not become ready")
	return nil
}

func registrations(t *testing.T, admin string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/registrations", nil)
	req.SetBasicAuth(adminUser, adminPassword)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/registrations: %s", r.Status)
	}
	var body struct{ Registrations []json.RawMessage }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return len(body.Registrations)
}

func TestKill9KeepsBindings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := buildParley(t)
	data := filepath.Join(dir, "data")
	sipPort, adminPort := freePort(t, "udp"), freePort(t, "tcp")
	p := startServe(t, bin, data, sipPort, adminPort)

	const n = 1000
	dst := transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort))}
	c := &stack.Client{}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			user := fmt.Sprintf("u%d", i)
			r := &ua.Registration{Client: c, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
				AoR:     sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"},
				Contact: sip.URI{Scheme: "sip", User: user, Host: "192.0.2.9", Port: uint16(10000 + i)},
				Options: []stack.Option{stack.WithDest(dst)}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := r.Register(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", user, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := registrations(t, p.admin); got != n {
		t.Fatalf("%d registrations before the kill, want %d", got, n)
	}
	// kill -9, by PID: no chance to flush anything.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p2 := startServe(t, bin, data, sipPort, adminPort)
	if got := registrations(t, p2.admin); got != n {
		t.Errorf("%d registrations after kill -9 and restart, want %d", got, n)
	}
	// A graceful stop with SIGTERM exits 0.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
}

// TestCallBetweenProcesses: `parley call` and `parley answer` as two
// processes exchange RTP both ways (issue #6).
func TestCallBetweenProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildParley(t)
	port := freePort(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	answer := exec.CommandContext(ctx, bin, "answer", "--local", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1")
	var aout strings.Builder
	answer.Stdout, answer.Stderr = &aout, &aout
	if err := answer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if answer.ProcessState == nil {
			_ = answer.Process.Kill()
			_ = answer.Wait()
		}
	})
	time.Sleep(300 * time.Millisecond)
	out, err := exec.CommandContext(ctx, bin, "call", "--duration", "1s", fmt.Sprintf("sip:bob@127.0.0.1:%d", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("call: %v\n%s\nanswer:\n%s", err, out, aout.String())
	}
	if err := answer.Wait(); err != nil {
		t.Fatalf("answer: %v\n%s", err, aout.String())
	}
	var sent, recv int
	for _, o := range []string{string(out), aout.String()} {
		i := strings.LastIndex(o, "RTP: sent ")
		if i < 0 {
			t.Fatalf("no RTP counts in:\n%s", o)
		}
		if _, err := fmt.Sscanf(o[i:], "RTP: sent %d packets, received %d", &sent, &recv); err != nil || sent < 20 || recv < 20 {
			t.Errorf("RTP sent %d received %d (%v) in:\n%s", sent, recv, err, o)
		}
	}
	for _, want := range []string{"--> INVITE", "<-- 180 Ringing", "<-- 200 OK", "--> ACK", "--> BYE", "<-- 200 OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("caller output lacks %q:\n%s", want, out)
		}
	}
}

// TestShutdownSignals: SIGTERM on an idle `parley serve` exits 0. With a
// proxied INVITE still waiting for its callee, SIGTERM starts a graceful
// shutdown that waits for the transaction (up to 10 s), and a second
// SIGTERM ends the process at once.
func TestShutdownSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildParley(t)
	// waitExit starts the one Wait of p; the function it returns reports
	// whether p has exited within the given time.
	waitExit := func(p *proc) func(within time.Duration) (*os.ProcessState, bool) {
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		return func(within time.Duration) (*os.ProcessState, bool) {
			select {
			case <-done:
				return p.cmd.ProcessState, true
			case <-time.After(within):
				return nil, false
			}
		}
	}

	idle := startServe(t, bin, filepath.Join(t.TempDir(), "data"), freePort(t, "udp"), freePort(t, "tcp"))
	_ = idle.cmd.Process.Signal(syscall.SIGTERM)
	if st, ok := waitExit(idle)(10 * time.Second); !ok || st.ExitCode() != 0 {
		t.Fatalf("idle server after SIGTERM: exited %v, state %v", ok, st)
	}

	sipPort := freePort(t, "udp")
	busy := startServe(t, bin, filepath.Join(t.TempDir(), "data"), sipPort, freePort(t, "tcp"))
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proxy := fmt.Sprintf("sip:127.0.0.1:%d", sipPort)
	if out, err := exec.CommandContext(ctx, bin, "register", "--proxy", proxy, "--contact", fmt.Sprintf("sip:bob@%s", hole.LocalAddr()), "sip:bob@127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	background(t, ctx, bin, "call", "--proxy", proxy, "--timeout", "50s", "sip:bob@127.0.0.1")
	// The proxy forwards the INVITE to bob's contact, which never answers.
	buf := make([]byte, 4096)
	_ = hole.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := hole.ReadFromUDP(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "INVITE ") {
		t.Fatalf("the INVITE did not reach the callee: %v %q", err, buf[:n])
	}
	exited := waitExit(busy)
	_ = busy.cmd.Process.Signal(syscall.SIGTERM)
	if st, ok := exited(time.Second); ok {
		t.Fatalf("exited (%v) with a transaction running, without waiting for it", st)
	}
	_ = busy.cmd.Process.Signal(syscall.SIGTERM)
	st, ok := exited(5 * time.Second)
	if !ok {
		t.Fatal("still running after a second SIGTERM")
	}
	if ws, _ := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("after a second SIGTERM: %v, want killed by SIGTERM", st)
	}
}

// TestProcs: `parley serve` runs on one CPU while idle with procs auto
// (the default), on the number --procs names otherwise, as /metrics
// shows; a bad --procs is a usage error (exit 2).
func TestProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildParley(t)
	gomaxprocs := func(p *proc) string {
		r, err := http.Get("http://" + p.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "parley_gomaxprocs "); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no parley_gomaxprocs in /metrics:\n%s", b)
		return ""
	}
	for _, tc := range []struct {
		args []string
		want string
	}{{nil, "1"}, {[]string{"--procs", "3"}, "3"}} {
		p := startServe(t, bin, filepath.Join(t.TempDir(), "data"), freePort(t, "udp"), freePort(t, "tcp"), tc.args...)
		got := ""
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = gomaxprocs(p); got == tc.want {
				break
			}
		}
		if got != tc.want {
			t.Errorf("%v: GOMAXPROCS %s, want %s", tc.args, got, tc.want)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	}
	out, err := exec.Command(bin, "serve", "--procs", "0", "--admin", "off", "--listen", fmt.Sprintf("udp:127.0.0.1:%d", freePort(t, "udp"))).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "want auto or a number") {
		t.Errorf("--procs 0: %v\n%s", err, out)
	}
}
