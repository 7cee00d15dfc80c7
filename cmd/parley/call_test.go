package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/internal/dnstest"
)

// answerInProcess runs `parley answer` with args until it exits; wait
// returns its exit code and output.
func answerInProcess(t *testing.T, args ...string) (addr string, wait func() (int, string)) {
	t.Helper()
	port := freeTCPUDPPort(t)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	var out syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"answer", "--local", addr}, args...), strings.NewReader(""), &out, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "answering calls at") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return addr, func() (int, string) {
		select {
		case code := <-done:
			return code, out.String()
		case <-time.After(20 * time.Second):
			t.Fatalf("answer did not exit\n%s", out.String())
			return 0, ""
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeTCPUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestCallResolvesWithDNS: `parley call sip:bob@example.test` with no
// --transport follows RFC 3263 — NAPTR to SIP+D2T, SRV to the port, A to
// 127.0.0.1 — and calls over TCP.
func TestCallResolvesWithDNS(t *testing.T) {
	addr, wait := answerInProcess(t, "--transport", "tcp", "--count", "1")
	_, port, _ := net.SplitHostPort(addr)
	ns := dnstest.Serve(t,
		`example.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.`,
		`_sip._tcp.example.test. 60 IN SRV 0 1 `+port+` pbx.example.test.`,
		`pbx.example.test. 60 IN A 127.0.0.1`)
	code, out, errs := runCmd(t, "", "call", "-v", "--dns", ns, "--duration", "400ms", "sip:bob@example.test")
	if code != 0 {
		t.Fatalf("call exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "TCP  127.0.0.1:") || !strings.Contains(errs, "--> "+addr+"  INVITE sip:bob@example.test SIP/2.0") {
		t.Errorf("the INVITE did not go over TCP to %s:\n%s", addr, errs)
	}
	if acode, aout := wait(); acode != 0 || !strings.Contains(aout, "<-- INVITE sip:bob@example.test") {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}
}

// TestCallRefused: a callee answering 486 makes call exit 1 with the
// status; an unknown DNS name exits 1 too.
func TestCallRefused(t *testing.T) {
	addr, wait := answerInProcess(t, "--reject", "486", "--count", "1")
	code, out, errs := runCmd(t, "", "call", "--duration", "1s", "sip:bob@"+addr)
	if code != 1 || !strings.Contains(errs, "call refused: 486 Busy Here") || !strings.Contains(out, "<-- 486 Busy Here (INVITE)") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	if acode, aout := wait(); acode != 0 {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}
	ns := dnstest.Serve(t, `other.test. 60 IN A 127.0.0.1`)
	code, _, errs = runCmd(t, "", "call", "--dns", ns, "--timeout", "3s", "sip:bob@nowhere.test")
	if code != 1 || !strings.Contains(errs, "cannot locate nowhere.test") {
		t.Errorf("unknown name: exit %d\n%s", code, errs)
	}
}

// TestCallUsageErrors: bad flags and files exit 2 with a message saying
// what is wrong.
func TestCallUsageErrors(t *testing.T) {
	dir := t.TempDir()
	stereo := filepath.Join(dir, "stereo.wav")
	if err := os.WriteFile(stereo, wavHeader(1, 2, 8000, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call", "--wav", filepath.Join(dir, "none.wav"), "sip:a@127.0.0.1"}, "--wav"},
		{[]string{"call", "--wav", stereo, "sip:a@127.0.0.1"}, "2 channel(s)"},
		{[]string{"call", "--transport", "sctp", "sip:a@127.0.0.1"}, "unknown transport"},
		{[]string{"answer", "--transport", "tls", "--cert", "x.pem"}, "--cert and --key go together"},
		{[]string{"call", "--ca", filepath.Join(dir, "none.pem"), "sip:a@127.0.0.1"}, "--ca"},
		{[]string{"call", "--ca", stereo, "sip:a@127.0.0.1"}, "no PEM certificate"},
		{[]string{"call", "--duration", "0s", "sip:a@127.0.0.1"}, "--duration must be positive"},
		{[]string{"call", "--local", "0.0.0.0:0", "sip:a@127.0.0.1"}, "give the IP address"},
		{[]string{"call", "tel:+123"}, "not a sip: or sips: URI"},
		{[]string{"call", "--transport", "tcp", "sip:a@127.0.0.1;transport=udp"}, "no server found for --transport tcp"},
		{[]string{"call", "--message", strings.Repeat("x", 1301), "sip:a@127.0.0.1"}, "RFC 3428 §8"},
		{[]string{"answer", "--reject", "200"}, "--reject takes a status code"},
		{[]string{"answer", "--count", "-1"}, "--count must not be negative"},
		{[]string{"answer", "--local", "nonsense"}, "want ip:port"},
	} {
		code, _, errs := runCmd(t, "", tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestCallWAVRecorded: call plays a WAV file (A-law or µ-law as the
// answer picks), answer --record writes what it received: the same audio
// within G.711 quantisation.
func TestCallWAVRecorded(t *testing.T) {
	dir := t.TempDir()
	in, rec := filepath.Join(dir, "in.wav"), filepath.Join(dir, "rec.wav")
	samples := make([]int16, 4000) // 0.5 s of a 500 Hz tone rising in volume
	for i := range samples {
		samples[i] = int16(float64(i) * 4 * math.Sin(2*math.Pi*500*float64(i)/8000))
	}
	var b bytes.Buffer
	if err := writeWAV(&b, samples); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, wait := answerInProcess(t, "--count", "1", "--record", rec)
	code, out, errs := runCmd(t, "", "call", "--wav", in, "sip:bob@"+addr)
	if code != 0 {
		t.Fatalf("call exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "RTP: sent 25 packets") {
		t.Errorf("0.5 s of audio is 25 packets of 20 ms:\n%s", out)
	}
	if acode, aout := wait(); acode != 0 {
		t.Fatalf("answer exit %d\n%s", acode, aout)
	}
	got, err := readWAV(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(samples) {
		t.Fatalf("recorded %d samples, sent %d", len(got), len(samples))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(samples[i])); d > max(40, math.Abs(float64(samples[i]))/16) {
			t.Fatalf("sample %d: recorded %d, sent %d", i, got[i], samples[i])
		}
	}
}

// TestCallTLS: answer over TLS with --cert/--key, call trusting that
// certificate with --ca; a self-signed answer is refused without
// --insecure (exit 1, the verification error) and reached with it, over
// WSS.
func TestCallTLS(t *testing.T) {
	dir := t.TempDir()
	c, err := selfSigned(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, wait := answerInProcess(t, "--transport", "tls", "--cert", certFile, "--key", keyFile, "--count", "1")
	code, out, errs := runCmd(t, "", "call", "-v", "--transport", "tls", "--ca", certFile, "--duration", "300ms", "sip:bob@"+addr)
	if code != 0 || !strings.Contains(errs, "TLS  127.0.0.1:") || !strings.Contains(out, ";transport=tls") {
		t.Errorf("call over TLS: exit %d\n%s\n%s", code, out, errs)
	}
	if acode, aout := wait(); acode != 0 {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}

	addr, wait = answerInProcess(t, "--transport", "wss", "--count", "1") // self-signed
	code, _, errs = runCmd(t, "", "call", "--transport", "wss", "--timeout", "5s", "sip:bob@"+addr)
	if code != 1 || !strings.Contains(errs, "certificate") {
		t.Errorf("unverified certificate: exit %d\n%s", code, errs)
	}
	code, out, errs = runCmd(t, "", "call", "--transport", "wss", "--insecure", "--duration", "300ms", "sip:bob@"+addr)
	if code != 0 || !strings.Contains(out, ";transport=wss") {
		t.Errorf("call over WSS: exit %d\n%s\n%s", code, out, errs)
	}
	if acode, aout := wait(); acode != 0 {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}
}

// TestMessageTooLargeForUDP: RFC 3428 §8 — more than 1300 bytes over UDP
// is refused before sending (exit 2); over TCP it goes.
func TestMessageTooLargeForUDP(t *testing.T) {
	big := strings.Repeat("x", 1400)
	code, _, errs := runCmd(t, "", "message", "sip:bob@127.0.0.1:9", big)
	if code != 2 || !strings.Contains(errs, "RFC 3428 §8") {
		t.Errorf("exit %d\n%s", code, errs)
	}
	addr, wait := answerInProcess(t, "--transport", "tcp", "--count", "1", "--reject", "486")
	code, out, errs := runCmd(t, "", "message", "--transport", "tcp", "sip:bob@"+addr, big)
	if code != 0 || !strings.Contains(out, "200 OK") {
		t.Errorf("over TCP: exit %d\n%s\n%s", code, out, errs)
	}
	// End the answer with a call it refuses.
	if code, _, _ := runCmd(t, "", "call", "--transport", "tcp", "sip:bob@"+addr); code != 1 {
		t.Errorf("refused call: exit %d", code)
	}
	if acode, aout := wait(); acode != 0 || !strings.Contains(aout, "MESSAGE outside a dialog") {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}
}

// TestAnswerUDPAndTCP: RFC 3261 §18.2.1 — answer without --transport
// listens on UDP and TCP on the same port: one call over each arrives
// (--count 2) and both have RTP both ways. With --local ip:0 the port
// picked serves both too.
func TestAnswerUDPAndTCP(t *testing.T) {
	rtp := func(out string) (sent, recv int) {
		i := strings.LastIndex(out, "RTP: sent ")
		if i < 0 {
			return -1, -1
		}
		if _, err := fmt.Sscanf(out[i:], "RTP: sent %d packets, received %d", &sent, &recv); err != nil {
			return -1, -1
		}
		return sent, recv
	}
	call := func(addr, tr string) {
		t.Helper()
		code, out, errs := runCmd(t, "", "call", "-v", "--transport", tr, "--duration", "400ms", "sip:bob@"+addr)
		if code != 0 {
			t.Fatalf("call over %s: exit %d\n%s\n%s", tr, code, out, errs)
		}
		if want := strings.ToUpper(tr) + "  127.0.0.1:"; !strings.Contains(errs, want) || !strings.Contains(errs, "--> "+addr+"  INVITE") {
			t.Errorf("the INVITE did not go over %s to %s:\n%s", tr, addr, errs)
		}
		if sent, recv := rtp(out); sent < 10 || recv < 10 {
			t.Errorf("call over %s: RTP sent %d, received %d, want 10 or more each way\n%s", tr, sent, recv, out)
		}
	}
	addr, wait := answerInProcess(t, "--count", "2")
	call(addr, "udp")
	call(addr, "tcp")
	code, aout := wait()
	if code != 0 || strings.Count(aout, "<-- INVITE sip:bob@"+addr) != 2 {
		t.Fatalf("answer exit %d, want 2 INVITEs\n%s", code, aout)
	}
	for i, part := range strings.SplitAfter(aout, "RTP: sent ")[1:] {
		var sent, recv int
		if _, err := fmt.Sscanf(part, "%d packets, received %d", &sent, &recv); err != nil || sent < 10 || recv < 10 {
			t.Errorf("answer call %d: RTP sent %d, received %d (%v)\n%s", i+1, sent, recv, err, aout)
		}
	}
	if n := strings.Count(aout, "RTP: sent "); n != 2 {
		t.Errorf("answer printed %d RTP counts, want 2\n%s", n, aout)
	}

	// --local 127.0.0.1:0: the port printed takes both transports.
	var out syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"answer", "--local", "127.0.0.1:0", "--count", "2"}, strings.NewReader(""), &out, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var port int
	if _, err := fmt.Sscanf(out.String(), "answering calls at sip:parley@127.0.0.1:%d", &port); err != nil || port == 0 {
		t.Fatalf("no port in %q (%v)", out.String(), err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	call(addr, "tcp")
	call(addr, "udp")
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("answer on port 0: exit %d\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("answer on port 0 did not exit\n%s", out.String())
	}

	// An explicit --transport udp listens on UDP only: TCP is refused.
	addr, wait = answerInProcess(t, "--transport", "udp", "--count", "1", "--reject", "486")
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("--transport udp: TCP %s accepted a connection", addr)
	}
	if code, _, errs := runCmd(t, "", "call", "sip:bob@"+addr); code != 1 || !strings.Contains(errs, "486") {
		t.Errorf("call to --transport udp: exit %d\n%s", code, errs)
	}
	if code, aout := wait(); code != 0 {
		t.Errorf("answer exit %d\n%s", code, aout)
	}
}

// TestCallInfoPackage: RFC 6086 Info Packages between call and answer.
// `answer --recv-info foo` lists foo in Recv-Info (§5.2.3) and accepts
// --info-type; `call --info-package foo` sends the INFO with Info-Package:
// foo, which answer prints with its package. A package the callee did not
// list is never sent (§4.2.1: "MUST NOT"): call reports it and hangs up
// normally. A package name that is not a token is a usage error.
func TestCallInfoPackage(t *testing.T) {
	addr, wait := answerInProcess(t, "--recv-info", "foo", "--info-type", "text/plain", "--count", "2")
	code, out, errs := runCmd(t, "", "call", "--duration", "300ms", "--info", "hello", "--info-package", "foo", "--info-type", "text/plain", "sip:bob@"+addr)
	if code != 0 || !strings.Contains(out, "<-- 200 OK (INFO)") || !strings.Contains(out, "--> INFO") {
		t.Errorf("call with package foo: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "", "call", "--duration", "300ms", "--info", "hi", "--info-package", "bar", "--info-type", "text/plain", "sip:bob@"+addr)
	if code != 0 || !strings.Contains(out, "INFO failed: ua: the peer did not list this Info Package in Recv-Info") || strings.Contains(out, "--> INFO") {
		t.Errorf("call with package bar: exit %d\n%s\n%s", code, out, errs)
	}
	acode, aout := wait()
	if acode != 0 || !strings.Contains(aout, `INFO (package foo) text/plain: "hello"`) || strings.Contains(aout, `"hi"`) {
		t.Errorf("answer exit %d\n%s", acode, aout)
	}
	if code, _, errs := runCmd(t, "", "call", "--info", "x", "--info-package", "a b", "sip:bob@127.0.0.1:9"); code != 2 || !strings.Contains(errs, "is a token") {
		t.Errorf("bad package name: exit %d %s", code, errs)
	}
}

// TestAnswerShowsCancelReason: a call that `parley call --cancel-after`
// cancels ends at `parley answer` with the CANCEL's Reason (RFC 3326)
// printed.
func TestAnswerShowsCancelReason(t *testing.T) {
	addr, wait := answerInProcess(t, "--ring", "5s", "--count", "1")
	code, out, errs := runCmd(t, "", "call", "--cancel-after", "300ms", "sip:bob@"+addr)
	if code != 0 || !strings.Contains(out, "call cancelled") {
		t.Errorf("call exit %d\n%s\n%s", code, out, errs)
	}
	acode, aout := wait()
	if want := `call ended: ua: call cancelled: Reason: SIP;cause=487;text="cancelled by parley call --cancel-after"`; acode != 0 || !strings.Contains(aout, want) {
		t.Errorf("answer exit %d, want %q in\n%s", acode, want, aout)
	}
}
