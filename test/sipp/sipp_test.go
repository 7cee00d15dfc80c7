// Package sipp_test runs SIPp (the Debian package sip-tester) against
// Parley over real UDP sockets on loopback: SIPp as UAC against a
// stack.Server, and as UAS behind a stack.Client, with SIPp dropping
// packets (-lost) so that the retransmission paths of RFC 3261 §17 run.
package sipp_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/server"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
)

// sippPath finds SIPp; `make test` installs it. Outside CI a missing SIPp
// skips these tests with a message saying so; in CI it fails them.
func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp not installed (make test installs the sip-tester package)")
		}
		t.Skip("sipp not installed: run `make test`, which installs the sip-tester package")
	}
	return p
}

// freePort returns a UDP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	// Free for TCP too: parley answer without --transport listens on both
	// (RFC 3261 §18.2.1).
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
	return 0
}

// sipp runs SIPp with args in a temporary directory, bounded by timeout, and
// returns its exit error and output. The process is killed by PID when the
// context ends.
func sipp(t *testing.T, timeout time.Duration, args ...string) (*exec.Cmd, func() (error, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, sippPath(t), append(args, "-nostdin", "-trace_err")...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, func() (error, string) {
		err := cmd.Wait()
		cancel()
		logs, _ := filepath.Glob(filepath.Join(dir, "*errors.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			// The first error explains the rest (later ones are usually
			// retransmissions reaching a dead call): keep the head.
			if len(b) > 4000 {
				b = b[:4000]
			}
			out.WriteString("\n--- " + filepath.Base(l) + "\n" + string(b))
		}
		return err, out.String()
	}
}

func scenario(name string) string {
	p, _ := filepath.Abs(name)
	return p
}

func shutdown(t *testing.T, s *stack.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestSIPpUACMessageWithLoss: SIPp sends MESSAGE requests to a Parley
// echo server while dropping 10% of packets; every transaction completes
// through retransmissions (Timer E at SIPp; the server transaction re-sends
// its response to a retransmitted request, §17.2.2).
func TestSIPpUACMessageWithLoss(t *testing.T) {
	sippPath(t)
	mux := &stack.ServeMux{}
	mux.HandleFunc(sip.MESSAGE, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	s := &stack.Server{Handler: mux}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, s)
	_, wait := sipp(t, 90*time.Second, "-sf", scenario("uac_message.xml"), ln.Addr().String(),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-m", "200", "-r", "50", "-l", "40",
		"-lost", "10", "-timeout", "80s", "-timeout_error", "-recv_timeout", "20s")
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s", err, out)
	}
}

// TestSIPpUACInvite: SIPp places calls to a Parley server: INVITE, 180,
// 200, ACK (delivered to Server.OnAck), BYE, 200.
func TestSIPpUACInvite(t *testing.T) {
	sippPath(t)
	acks := make(chan struct{}, 1000)
	var contact atomic.Pointer[string] // known once the listener is up
	mux := &stack.ServeMux{}
	mux.HandleFunc(sip.INVITE, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		tag := sip.NewTag()
		ringing := sip.NewResponse(r, sip.StatusRinging)
		ringing.SetToTag(tag)
		_ = w.Respond(ringing)
		ok := sip.NewResponse(r, sip.StatusOK)
		ok.SetToTag(tag)
		_ = ok.Add("Contact", *contact.Load())
		_ = w.Respond(ok)
	})
	mux.HandleFunc(sip.BYE, func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})
	s := &stack.Server{Handler: mux}
	s.OnAck = func(*sip.Request, transport.Flow) { acks <- struct{}{} }
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := fmt.Sprintf("<sip:parley@%s>", ln.Addr())
	contact.Store(&c)
	defer shutdown(t, s)
	const calls = 100
	_, wait := sipp(t, 90*time.Second, "-sf", scenario("uac_invite.xml"), ln.Addr().String(),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-m", strconv.Itoa(calls), "-r", "50", "-l", "40",
		"-timeout", "80s", "-timeout_error", "-recv_timeout", "20s")
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s", err, out)
	}
	if len(acks) != calls {
		t.Errorf("%d ACKs reached OnAck, want %d", len(acks), calls)
	}
}

// TestSIPpUASWithLoss: a Parley Client places calls to SIPp acting as UAS
// while SIPp drops 5% of packets: lost INVITEs are retransmitted (Timer A),
// the 2xx retransmitted by SIPp reaches the TU through the Accepted state
// and is ACKed again (§13.2.2.4), lost BYEs are retransmitted (Timer E).
func TestSIPpUASWithLoss(t *testing.T) {
	sippPath(t)
	port := freePort(t)
	const calls = 40
	_, wait := sipp(t, 120*time.Second, "-sf", scenario("uas_invite.xml"), "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-m", strconv.Itoa(calls), "-lost", "5", "-timeout", "110s", "-timeout_error")
	time.Sleep(300 * time.Millisecond) // let SIPp bind its socket
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	c := &stack.Client{}
	defer c.Close()
	d := transport.Dest{Network: transport.UDP, Addr: dst}
	for i := range calls {
		if err := call(t, c, d, i); err != nil {
			_, out := wait()
			t.Fatalf("call %d: %v\nSIPp:\n%s", i, err, out)
		}
	}
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s", err, out)
	}
}

func call(t *testing.T, c *stack.Client, d transport.Dest, i int) error {
	u := sip.URI{Scheme: "sip", User: "sipp", Host: d.Addr.Addr().String(), Port: d.Addr.Port()}
	inv := sip.NewRequest(sip.INVITE, u)
	from := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "parley", Host: "127.0.0.1"}, Params: sip.Params(";tag=" + sip.NewTag())}
	inv.SetFrom(from)
	inv.SetTo(sip.NameAddr{URI: u})
	inv.SetCallID(fmt.Sprintf("sipp-uas-%d-%s", i, sip.NewTag()))
	inv.SetCSeq(sip.CSeq{Seq: 1, Method: sip.INVITE})
	inv.SetMaxForwards(70)
	_ = inv.Add("Contact", "<sip:parley@127.0.0.1>")
	ack := func(res *sip.Response) *sip.Request {
		a := sip.NewRequest(sip.ACK, u)
		a.SetFrom(from)
		a.SetTo(*res.To())
		a.SetCallID(inv.CallID())
		a.SetCSeq(sip.CSeq{Seq: 1, Method: sip.ACK})
		a.SetMaxForwards(70)
		return a
	}
	reACK := func(res *sip.Response) {
		if res.StatusCode.Success() {
			_, _ = c.SendAck(context.Background(), ack(res), d)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	res, err := c.Do(ctx, inv, stack.WithDest(d), stack.WithAfterFinal(reACK))
	if err != nil {
		return err
	}
	if res.StatusCode != sip.StatusOK {
		return fmt.Errorf("INVITE answered %d", res.StatusCode)
	}
	if _, err := c.SendAck(ctx, ack(res), d); err != nil {
		return err
	}
	bye := sip.NewRequest(sip.BYE, u)
	bye.SetFrom(from)
	bye.SetTo(*res.To())
	bye.SetCallID(inv.CallID())
	bye.SetCSeq(sip.CSeq{Seq: 2, Method: sip.BYE})
	bye.SetMaxForwards(70)
	res, err = c.Do(ctx, bye, stack.WithDest(d))
	if err != nil {
		return fmt.Errorf("BYE: %w", err)
	}
	if res.StatusCode != sip.StatusOK {
		return fmt.Errorf("BYE answered %d", res.StatusCode)
	}
	return nil
}

// TestSIPpRegisterWithAuth: SIPp registers 50 users with digest
// authentication against the parley serve registrar (in process, memory
// store), then removes each with "Contact: *", all challenged (issue #7).
func TestSIPpRegisterWithAuth(t *testing.T) {
	sippPath(t)
	const users = 50
	dir := t.TempDir()
	var usersFile, inject bytes.Buffer
	inject.WriteString("SEQUENTIAL\n")
	for i := range users {
		fmt.Fprintf(&usersFile, "u%d:127.0.0.1:MD5:%s\n", i, digest.HA1(fmt.Sprintf("u%d", i), "127.0.0.1", "secret", digest.MD5))
		fmt.Fprintf(&inject, "u%d;secret;[authentication username=u%d password=secret]\n", i, i)
	}
	for name, b := range map[string][]byte{"users.txt": usersFile.Bytes(), "users.csv": inject.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, srvAddr := startServeWith(t, func(cfg *server.Config) { cfg.Users = filepath.Join(dir, "users.txt") },
		// SIPp answers MD5 challenges.
		func(srv *server.Server) { srv.AuthAlgorithms = []digest.Algorithm{digest.MD5} })
	addr := srvAddr.String()
	_, wait := sipp(t, 60*time.Second, "-sf", scenario("register_auth.xml"), addr, "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t)), "-inf", filepath.Join(dir, "users.csv"), "-m", strconv.Itoa(users),
		"-r", "25", "-l", "20", "-timeout", "50s", "-timeout_error", "-recv_timeout", "10s")
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s", err, out)
	}
	n := 0
	_ = srv.Store().Range(t.Context(), func(location.Record) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d AoRs still registered after the '*' removals", n)
	}
}

// TestSIPpCallThroughProxy: a SIPp UAC calls sip:echo@127.0.0.1 through
// parley serve; the proxy finds the binding that a SIPp UAS registered,
// forwards with Record-Route, and the ACK and BYE follow the route set
// (issue #7: a call between registered UAs through the proxy).
func TestSIPpCallThroughProxy(t *testing.T) {
	sippPath(t)
	_, proxyAddr := startServe(t, nil)
	uasPort := freePort(t)
	// Register the SIPp UAS as sip:echo@127.0.0.1.
	c := &stack.Client{}
	defer c.Close()
	reg := &ua.Registration{Client: c, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
		AoR: sip.URI{Scheme: "sip", User: "echo", Host: "127.0.0.1"}, Contact: sip.URI{Scheme: "sip", User: "echo", Host: "127.0.0.1", Port: uint16(uasPort)},
		Options: []stack.Option{stack.WithDest(transport.Dest{Network: transport.UDP, Addr: proxyAddr})}}
	if _, err := reg.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	const calls = 30
	_, waitUAS := sipp(t, 60*time.Second, "-sf", scenario("uas_invite.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-m", strconv.Itoa(calls), "-timeout", "50s", "-timeout_error")
	time.Sleep(300 * time.Millisecond)
	_, waitUAC := sipp(t, 60*time.Second, "-sf", scenario("uac_invite.xml"), proxyAddr.String(), "-s", "echo",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-m", strconv.Itoa(calls), "-r", "10", "-l", "10",
		"-timeout", "50s", "-timeout_error", "-recv_timeout", "10s")
	if err, out := waitUAC(); err != nil {
		t.Fatalf("SIPp UAC failed: %v\n%s", err, out)
	}
	if err, out := waitUAS(); err != nil {
		t.Fatalf("SIPp UAS failed: %v\n%s", err, out)
	}
}
