package sipp_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/proxy"
	"github.com/parleysip/parley/server"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// startServe starts parley serve in process on a free UDP port of
// 127.0.0.1 with a memory store and no admin listener; mod adjusts the
// configuration before its defaults are filled. The server is shut down
// when the test ends.
func startServe(t *testing.T, mod func(*server.Config)) (*server.Server, netip.AddrPort) {
	t.Helper()
	return startServeWith(t, mod, nil)
}

// startServeWith is startServe with a hook on the server before Start.
func startServeWith(t *testing.T, mod func(*server.Config), pre func(*server.Server)) (*server.Server, netip.AddrPort) {
	t.Helper()
	sippPath(t)
	cfg := &server.Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"}
	if mod != nil {
		mod(cfg)
	}
	cfg.Defaults()
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pre != nil {
		pre(srv)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, netip.MustParseAddrPort(strings.TrimPrefix(srv.Addrs()[0], "udp:"))
}

// registerContact registers contact (a Contact header value, parameters
// such as q included) for sip:user@127.0.0.1 at the server, for 300 s.
func registerContact(t *testing.T, srv netip.AddrPort, user, contact string) {
	t.Helper()
	c := &stack.Client{}
	defer c.Close()
	aor := sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}
	r := sip.NewRequest(sip.REGISTER, sip.URI{Scheme: "sip", Host: "127.0.0.1"})
	r.SetFrom(sip.NameAddr{URI: aor, Params: sip.Params(";tag=" + sip.NewTag())})
	r.SetTo(sip.NameAddr{URI: aor})
	r.SetCallID("reg-" + sip.NewTag())
	r.SetCSeq(sip.CSeq{Seq: 1, Method: sip.REGISTER})
	r.SetMaxForwards(70)
	_ = r.Add("Contact", contact)
	_ = r.Add("Expires", "300")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := c.Do(ctx, r, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: srv}))
	if err != nil {
		t.Fatalf("register %s: %v", contact, err)
	}
	if res.StatusCode != sip.StatusOK {
		t.Fatalf("register %s: %d %s", contact, res.StatusCode, res.Reason)
	}
}

// runSIPp runs one SIPp scenario to its end (bounded by 30 s) and fails
// the test with its output if SIPp reports a failed call.
func runSIPp(t *testing.T, name string, args ...string) {
	t.Helper()
	_, wait := sipp(t, 30*time.Second, append([]string{"-sf", scenario(name)}, args...)...)
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp %s failed: %v\n%s", name, err, out)
	}
}

// uac are the SIPp arguments of a single-call UAC towards srv.
func uac(srv netip.AddrPort, extra ...string) []string {
	return append([]string{srv.String(), "-i", "127.0.0.1", "-m", "1", "-timeout", "20s", "-timeout_error", "-recv_timeout", "5s"}, extra...)
}

func bindings(t *testing.T, srv *server.Server) int {
	t.Helper()
	n := 0
	_ = srv.Store().Range(t.Context(), func(r location.Record) bool { n += len(r.Bindings); return true })
	return n
}

// TestSIPpServeRegister: register without auth, re-register, 423 and the
// retry at Min-Expires, out-of-order CSeq, unregister one contact, query,
// Contact "*" and a bad "*" (serve_register.xml checks every response).
func TestSIPpServeRegister(t *testing.T) {
	srv, addr := startServe(t, nil)
	runSIPp(t, "serve_register.xml", uac(addr, "-p", strconv.Itoa(freePort(t)))...)
	if n := bindings(t, srv); n != 0 {
		t.Errorf("%d bindings left after Contact: *", n)
	}
}

// uas starts a SIPp UAS scenario on a free port of 127.0.0.1 for one call
// and returns its port and a function that waits for it to finish.
func uas(t *testing.T, name string, extra ...string) (int, func() (error, string)) {
	t.Helper()
	port := freePort(t)
	args := append([]string{"-sf", scenario(name), "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1",
		"-timeout", "20s", "-timeout_error"}, extra...)
	_, wait := sipp(t, 30*time.Second, args...)
	return port, wait
}

func waitOK(t *testing.T, what string, wait func() (error, string)) {
	t.Helper()
	if err, out := wait(); err != nil {
		t.Errorf("SIPp %s failed: %v\n%s", what, err, out)
	}
}

// TestSIPpServeCancel: a SIPp caller cancels a call ringing at a SIPp UA
// registered with parley serve: the proxy answers the CANCEL 200, cancels
// its branch (the callee gets a CANCEL and answers 487, ACKed hop by hop)
// and answers the INVITE 487 (RFC 3261 §16.10).
func TestSIPpServeCancel(t *testing.T) {
	_, addr := startServe(t, nil)
	port, waitUAS := uas(t, "serve_uas_cancel.xml")
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>", port))
	runSIPp(t, "serve_uac_cancel.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)))...)
	waitOK(t, "UAS", waitUAS)
}

// TestSIPpServeParallelFork: bob is registered at two contacts of equal q;
// the proxy forks in parallel, both ring, one answers 200, and the other
// receives a CANCEL and answers 487 (§16.7 step 10). The caller sees both
// 180s, the 200 with Record-Route, and its ACK and BYE reach the answering
// UA along the route set.
func TestSIPpServeParallelFork(t *testing.T) {
	_, addr := startServe(t, nil)
	pa, waitA := uas(t, "serve_uas_answer.xml")
	pb, waitB := uas(t, "serve_uas_cancel.xml")
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>;q=0.8", pa))
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>;q=0.8", pb))
	runSIPp(t, "serve_uac_fork.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)))...)
	waitOK(t, "answering UAS", waitA)
	waitOK(t, "cancelled UAS", waitB)
}

// TestSIPpServeSequentialFork: bob is registered at a contact with q=1.0
// that answers 486 after a second and one with q=0.5 that answers 200. The
// proxy tries the q=1.0 contact first and only then the other (§16.6); the
// caller never sees the 486. The order is checked on SIPp's message traces:
// the second contact receives its INVITE a second after the first (which
// waits a second before its 486), not at once as in a parallel fork.
func TestSIPpServeSequentialFork(t *testing.T) {
	_, addr := startServe(t, nil)
	dir := t.TempDir()
	busyTrace, answerTrace := dir+"/busy.msg", dir+"/answer.msg"
	pa, waitA := uas(t, "serve_uas_busy.xml", "-trace_msg", "-message_file", busyTrace)
	pb, waitB := uas(t, "serve_uas_answer.xml", "-trace_msg", "-message_file", answerTrace)
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>;q=1.0", pa))
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>;q=0.5", pb))
	runSIPp(t, "serve_uac_call.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)))...)
	waitOK(t, "busy UAS", waitA)
	waitOK(t, "answering UAS", waitB)
	// The busy UA waits a second before its 486: forked in parallel, both
	// INVITEs would arrive within milliseconds of each other. (SIPp stamps
	// a message it sends after sending it, so the 486's own stamp may
	// trail the next INVITE's arrival by a fraction of a millisecond.)
	busyGot := traceTime(t, busyTrace, "received", "INVITE ")
	busySent := traceTime(t, busyTrace, "sent", "SIP/2.0 486")
	inviteGot := traceTime(t, answerTrace, "received", "INVITE ")
	if inviteGot.Sub(busyGot) < 900*time.Millisecond || inviteGot.Before(busySent.Add(-50*time.Millisecond)) {
		t.Errorf("the q=0.5 contact got its INVITE at %v; the q=1.0 contact got its INVITE at %v and answered 486 at %v", inviteGot, busyGot, busySent)
	}
}

// traceTime returns the time SIPp's -trace_msg file path records for the
// first message sent or received (dir) whose first line starts with start.
// A record is a line of dashes and a time stamp, "UDP message sent|received
// ...", an empty line, then the message.
func traceTime(t *testing.T, path, dir, start string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	for i := 0; i+3 < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "-----") || !strings.Contains(lines[i+1], "message "+dir) || !strings.HasPrefix(lines[i+3], start) {
			continue
		}
		stamp := strings.TrimSpace(strings.TrimLeft(l, "- "))
		ts, err := time.Parse("2006-01-02 15:04:05.000000", stamp)
		if err != nil {
			t.Fatalf("trace %s: time stamp %q: %v", path, stamp, err)
		}
		return ts
	}
	t.Fatalf("trace %s: no message %s starting %q:\n%s", path, dir, start, b)
	return time.Time{}
}

// TestSIPpServeRejects: 404 for a user of the domain with no binding, 483
// for an INVITE and an OPTIONS with Max-Forwards 0 (§16.3 step 3), each
// answered once, with nothing forwarded to the registered UA (a SIPp UAS
// that would fail on any message).
func TestSIPpServeRejects(t *testing.T) {
	_, addr := startServe(t, nil)
	registerContact(t, addr, "bob", "<sip:bob@127.0.0.1:9>")
	runSIPp(t, "serve_uac_reject.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)))...)

	// CANCEL through the stateless proxy: it follows the INVITE's way (to
	// the same target; proxy.TestStatelessInviteCancel checks the branch),
	// the callee's 200 and 487 come back by Via, and the caller's ACK of
	// the 487 reaches the callee.
	port2, waitUAS2 := uas(t, "serve_uas_cancel.xml", "-trace_msg", "-message_file", filepath.Join(t.TempDir(), "uas2.msg"))
	registerContact(t, addr, "carol", fmt.Sprintf("<sip:carol@127.0.0.1:%d>", port2))
	runSIPp(t, "serve_uac_cancel.xml", uac(addr, "-s", "carol", "-p", strconv.Itoa(freePort(t)))...)
	waitOK(t, "cancelled UAS", waitUAS2)
}

// authServe starts parley serve with digest users u0…u4 (password
// "secret", MD5, realm 127.0.0.1).
func authServe(t *testing.T) (*server.Server, netip.AddrPort) {
	t.Helper()
	dir := t.TempDir()
	var users strings.Builder
	for i := range 5 {
		fmt.Fprintf(&users, "u%d:127.0.0.1:MD5:%s\n", i, digest.HA1(fmt.Sprintf("u%d", i), "127.0.0.1", "secret", digest.MD5))
	}
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServeWith(t, func(c *server.Config) { c.Users = filepath.Join(dir, "users.txt") }, func(s *server.Server) {
		s.AuthAlgorithms = []digest.Algorithm{digest.MD5} // what SIPp answers
	})
}

// TestSIPpServeRelay: with users configured, a request for a foreign
// domain from a foreign user is refused 403 (INVITE and MESSAGE), and one
// that claims a local user is challenged 407 (§22.3), never forwarded.
func TestSIPpServeRelay(t *testing.T) {
	_, addr := authServe(t)
	runSIPp(t, "serve_uac_relay.xml", uac(addr, "-p", strconv.Itoa(freePort(t)))...)
}

// TestSIPpServeNonceReplay: SIPp registers u1 with digest credentials
// (nc=1, then the same nonce with nc=2, both accepted). An attacker who
// captured the first authenticated REGISTER replays it — as is with a new
// branch, and with its own Contact and a higher CSeq — and gets a fresh
// 401 challenge each time: the nonce-count was used (RFC 7616 §3.3,
// §5.11). The attacker's Contact is not bound.
func TestSIPpServeNonceReplay(t *testing.T) {
	srv, addr := authServe(t)
	trace := filepath.Join(t.TempDir(), "uac.msg")
	runSIPp(t, "serve_register_replay.xml", uac(addr, "-p", strconv.Itoa(freePort(t)), "-trace_msg", "-message_file", trace)...)
	if n := bindings(t, srv); n != 1 {
		t.Fatalf("%d bindings after SIPp registered, want 1", n)
	}
	captured := traceMessage(t, trace, "sent", "REGISTER ", "nc=00000001")
	replays := []struct{ name, msg string }{
		{"as captured", captured},
		{"hijack", strings.Replace(strings.Replace(captured, "CSeq: 2 ", "CSeq: 10 ", 1), "Contact: <sip:u1@", "Contact: <sip:mallory@", 1)},
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, r := range replays {
		name, msg := r.name, r.msg
		// A new branch, or the server transaction would take it for a
		// retransmission and repeat its 200; rport brings the answer here.
		msg = strings.Replace(msg, ";branch=z9hG4bK", ";rport;branch=z9hG4bKreplay"+strconv.Itoa(i), 1)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("replay %s: %v", name, err)
		}
		res := string(buf[:n])
		if !strings.HasPrefix(res, "SIP/2.0 401 ") || !strings.Contains(res, "WWW-Authenticate: Digest") {
			t.Errorf("replay %s answered:\n%s", name, res)
		}
	}
	if n := bindings(t, srv); n != 1 {
		t.Errorf("%d bindings after the replays, want 1", n)
	}
}

// traceMessage returns, with CRLF line ends, the first message that SIPp's
// -trace_msg file path records as dir ("sent" or "received") whose first
// line starts with start and that contains substring.
func traceMessage(t *testing.T, path, dir, start, substring string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	for i := 0; i+3 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "-----") || !strings.Contains(lines[i+1], "message "+dir) || !strings.HasPrefix(lines[i+3], start) {
			continue
		}
		var msg []string
		for j := i + 3; j < len(lines) && !strings.HasPrefix(lines[j], "-----"); j++ {
			msg = append(msg, lines[j])
		}
		for len(msg) > 0 && msg[len(msg)-1] == "" {
			msg = msg[:len(msg)-1]
		}
		m := strings.Join(msg, "\r\n") + "\r\n\r\n"
		if strings.Contains(m, substring) {
			return m
		}
	}
	t.Fatalf("trace %s: no message %s starting %q with %q:\n%s", path, dir, start, substring, b)
	return ""
}

// TestSIPpServeStateless: parley serve with proxy mode stateless (RFC 3261
// §16.11) carries a call between SIPp UAs: INVITE, 180, 200 with
// Record-Route, ACK and BYE along the route set, with no transaction: the
// proxy sends no 100 (the caller's scenario accepts one only before the
// 180, and the callee rings at once), and the callee sees the proxy's Via
// with a branch computed from the request. A second INVITE to a user with
// no binding is answered 404 statelessly; a CANCEL and the ACK of the 487
// follow their INVITE.
func TestSIPpServeStateless(t *testing.T) {
	_, addr := startServe(t, func(c *server.Config) { c.Proxy.Mode = "stateless" })
	trace := filepath.Join(t.TempDir(), "uas.msg")
	port, waitUAS := uas(t, "serve_uas_answer.xml", "-trace_msg", "-message_file", trace)
	registerContact(t, addr, "bob", fmt.Sprintf("<sip:bob@127.0.0.1:%d>", port))
	uacTrace := filepath.Join(t.TempDir(), "uac.msg")
	runSIPp(t, "serve_uac_call.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)), "-trace_msg", "-message_file", uacTrace)...)
	waitOK(t, "UAS", waitUAS)
	inv := traceMessage(t, trace, "received", "INVITE ", "")
	m, err := sip.Parse([]byte(inv))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.(*sip.Request).TopVia(); v == nil || !proxy.IsStatelessBranch(v.Branch()) {
		t.Errorf("INVITE at the callee, top Via %v: not a stateless branch", v)
	}
	if b, _ := os.ReadFile(uacTrace); strings.Contains(string(b), "SIP/2.0 100 ") {
		t.Error("the stateless proxy sent a 100 Trying")
	}
	runSIPp(t, "serve_uac_reject.xml", uac(addr, "-s", "bob", "-p", strconv.Itoa(freePort(t)))...)

	// CANCEL through the stateless proxy: it follows the INVITE's way (to
	// the same target; proxy.TestStatelessInviteCancel checks the branch),
	// the callee's 200 and 487 come back by Via, and the caller's ACK of
	// the 487 reaches the callee.
	port2, waitUAS2 := uas(t, "serve_uas_cancel.xml", "-trace_msg", "-message_file", filepath.Join(t.TempDir(), "uas2.msg"))
	registerContact(t, addr, "carol", fmt.Sprintf("<sip:carol@127.0.0.1:%d>", port2))
	runSIPp(t, "serve_uac_cancel.xml", uac(addr, "-s", "carol", "-p", strconv.Itoa(freePort(t)))...)
	waitOK(t, "cancelled UAS", waitUAS2)
}
