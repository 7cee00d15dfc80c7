package sipp_test

// Issue #6 proof: the `parley` binary as a user agent against SIPp. Each
// scenario asserts its exact message sequence (SIPp fails a call on any
// unexpected message, exits non-zero, and Go checks its exit status), and
// the Go side compares the call ladder `parley` prints, line for line.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

var (
	parleyOnce sync.Once
	parleyBin  string
	parleyErr  error
)

// parleyBinary builds cmd/parley once per test run.
func parleyBinary(t *testing.T) string {
	t.Helper()
	parleyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-sipp")
		if err != nil {
			parleyErr = err
			return
		}
		parleyBin = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", parleyBin, "github.com/parleysip/parley/cmd/parley").CombinedOutput()
		if err != nil {
			parleyErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if parleyErr != nil {
		t.Fatal(parleyErr)
	}
	return parleyBin
}

// syncBuffer is an output buffer safe to read while the process writes.
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

// parleyProc is a running parley command.
type parleyProc struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error
}

// startParley runs the binary with args, bounded by timeout; it is killed
// by PID on cleanup.
func startParley(t *testing.T, timeout time.Duration, args ...string) *parleyProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &parleyProc{cmd: exec.CommandContext(ctx, parleyBinary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code (-1 for a kill or a start failure).
func (p *parleyProc) wait() int {
	<-p.done
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func (p *parleyProc) String() string {
	return "stdout:\n" + p.stdout.String() + "stderr:\n" + p.stderr.String()
}

// waitFor waits (bounded) until the process has printed want.
func (p *parleyProc) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stdout.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("parley exited before printing %q\n%s", want, p)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley did not print %q\n%s", want, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var stamp = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d (-->|<--) `)

// ladder returns the messages of the call ladder parley printed, without
// their time (events, the "---" lines, are left out).
func ladder(out string) []string {
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if stamp.MatchString(line) {
			l = append(l, line[len("15:04:05.000 "):])
		}
	}
	return l
}

// wantLadder checks the messages parley printed: the requests it sent,
// the responses it sent, the requests it received and the responses it
// received, each in exactly this order. How these four interleave is not
// checked: the transport taps a message after writing it, so a message
// caused by another one can be tapped first (the ladder reorders the usual
// cases, with a bounded wait, but not all: in a glare, the peer's
// re-INVITE that ours provoked can come first).
func wantLadder(t *testing.T, p *parleyProc, want ...string) {
	t.Helper()
	checkLadder(t, ladder(p.stdout.String()), p, want...)
}

// checkLadder is wantLadder on lines already taken from the ladder.
func checkLadder(t *testing.T, got []string, p *parleyProc, want ...string) {
	t.Helper()
	part := func(l []string, dir string, responses bool) string {
		var out []string
		for _, s := range l {
			if strings.HasPrefix(s, dir) && len(s) > 4 && (s[4] >= '0' && s[4] <= '9') == responses {
				out = append(out, s)
			}
		}
		return strings.Join(out, "\n")
	}
	for _, dir := range []string{"-->", "<--"} {
		for _, res := range []bool{false, true} {
			if part(got, dir, res) != part(want, dir, res) {
				t.Errorf("call ladder:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), p)
				return
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("call ladder has %d messages, want %d:\n  %s\n%s", len(got), len(want), strings.Join(got, "\n  "), p)
	}
}

// rtpCounts reads the "RTP: sent N packets, received M" line.
func rtpCounts(t *testing.T, p *parleyProc) (sent, recv int) {
	t.Helper()
	out := p.stdout.String()
	i := strings.LastIndex(out, "RTP: sent ")
	if i < 0 {
		t.Fatalf("no RTP counts\n%s", p)
	}
	if _, err := fmt.Sscanf(out[i:], "RTP: sent %d packets, received %d", &sent, &recv); err != nil {
		t.Fatalf("RTP counts: %v\n%s", err, p)
	}
	return sent, recv
}

// sippUAS starts a one-call SIPp UAS scenario that echoes RTP and returns
// its SIP port and wait function.
func sippUAS(t *testing.T, xml, transport string, extra ...string) (int, func() (error, string)) {
	t.Helper()
	port := freeTCPPort(t)
	cmd, wait := sipp(t, 30*time.Second, append([]string{"-sf", scenario(xml), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", transport, "-m", "1", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPort(t)), "-timeout", "25s", "-timeout_error"}, extra...)...)
	waitBound(t, cmd, wait, port, strings.HasPrefix(transport, "t"))
	return port, wait
}

// waitBound waits (bounded) until the SIPp process cmd has bound port
// (UDP, or TCP when tcp): until then a request sent to it is lost (a fixed
// sleep was too short under load). It reads the kernel's socket tables
// rather than trying to bind the port itself: a probe that holds the port
// for an instant can make SIPp's own bind fail. If SIPp exits first, the
// test fails with its output.
func waitBound(t *testing.T, cmd *exec.Cmd, wait func() (error, string), port int, tcp bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if portBound(t, port, tcp) {
			time.Sleep(50 * time.Millisecond) // let it enter its loop
			return
		}
		if exited(cmd.Process.Pid) {
			err, out := wait()
			t.Fatalf("SIPp exited before binding port %d: %v\n%s", port, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("SIPp did not bind port %d (tcp %v) in 15 s", port, tcp)
}

// portBound reports whether some socket is bound to port on this host: a
// UDP socket, or a listening TCP one when tcp (from /proc/net, Linux).
func portBound(t *testing.T, port int, tcp bool) bool {
	t.Helper()
	files := []string{"/proc/net/udp", "/proc/net/udp6"}
	if tcp {
		files = []string{"/proc/net/tcp", "/proc/net/tcp6"}
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			// sl local_address rem_address st ...; st 0A is LISTEN.
			fields := strings.Fields(line)
			if len(fields) < 4 || !strings.HasSuffix(fields[1], suffix) {
				continue
			}
			if !tcp || fields[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// exited reports whether process pid has ended (a zombie not yet waited
// for counts as ended).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func sippOK(t *testing.T, wait func() (error, string)) {
	t.Helper()
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s", err, out)
	}
}

// TestParleyAnswersSIPp: SIPp (UAC) calls `parley answer` over UDP and
// TCP: INVITE, 180, 200, ACK, BYE, 200; Parley's tone is echoed back by
// SIPp, so both directions of RTP are counted at Parley.
func TestParleyAnswersSIPp(t *testing.T) {
	sippPath(t)
	for _, tc := range []struct{ transport, sippT string }{{"udp", "u1"}, {"tcp", "t1"}} {
		t.Run(tc.transport, func(t *testing.T) {
			port := freeTCPPort(t)
			ans := startParley(t, 30*time.Second, "answer", "--transport", tc.transport, "--local", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1")
			ans.waitFor(t, "answering calls at")
			sippPort := freeTCPPort(t)
			_, wait := sipp(t, 30*time.Second, "-sf", scenario("ua_uac_call.xml"), fmt.Sprintf("127.0.0.1:%d", port),
				"-i", "127.0.0.1", "-p", strconv.Itoa(sippPort), "-t", tc.sippT, "-m", "1", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPort(t)),
				"-timeout", "25s", "-timeout_error", "-recv_timeout", "10s")
			sippOK(t, wait)
			if code := ans.wait(); code != 0 {
				t.Fatalf("parley answer exit %d\n%s", code, ans)
			}
			parley := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
			if tc.transport == "tcp" {
				parley += ";transport=tcp"
			}
			wantLadder(t, ans, "<-- INVITE "+fmt.Sprintf("sip:parley@127.0.0.1:%d;transport=%s", port, strings.ToUpper(tc.transport)),
				"--> 180 Ringing (INVITE)", "--> 200 OK (INVITE)", "<-- ACK "+parley, "<-- BYE "+parley, "--> 200 OK (BYE)")
			if sent, recv := rtpCounts(t, ans); sent < 20 || recv < 10 {
				t.Errorf("RTP sent %d, received %d", sent, recv)
			}
		})
	}
}

// TestParleyCallsSIPp: `parley call` calls SIPp (UAS) over UDP and TCP:
// INVITE, 180, 200, ACK, BYE, 200, with RTP both ways (SIPp echoes).
func TestParleyCallsSIPp(t *testing.T) {
	sippPath(t)
	for _, tc := range []struct{ transport, sippT string }{{"udp", "u1"}, {"tcp", "t1"}} {
		t.Run(tc.transport, func(t *testing.T) {
			port, wait := sippUAS(t, "ua_uas_call.xml", tc.sippT)
			target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
			call := startParley(t, 30*time.Second, "call", "--transport", tc.transport, "--duration", "1s", target)
			if code := call.wait(); code != 0 {
				_, out := wait()
				t.Fatalf("parley call exit %d\n%s\nSIPp:\n%s", code, call, out)
			}
			sippOK(t, wait)
			sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=%s", port, strings.ToUpper(tc.transport))
			wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC, "--> BYE "+sippC, "<-- 200 OK (BYE)")
			if sent, recv := rtpCounts(t, call); sent < 20 || recv < 10 {
				t.Errorf("RTP sent %d, received %d", sent, recv)
			}
		})
	}
}

// TestParleyCallEarlyMedia: SIPp rings (180), then sends 183 with SDP
// before the 200; Parley takes both provisionals and the call proceeds.
func TestParleyCallEarlyMedia(t *testing.T) {
	sippPath(t)
	port, wait := sippUAS(t, "ua_uas_early.xml", "u1")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	call := startParley(t, 30*time.Second, "call", "--duration", "1s", target)
	if code := call.wait(); code != 0 {
		_, out := wait()
		t.Fatalf("parley call exit %d\n%s\nSIPp:\n%s", code, call, out)
	}
	sippOK(t, wait)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 183 Session Progress (INVITE)", "<-- 200 OK (INVITE)",
		"--> ACK "+sippC, "--> BYE "+sippC, "<-- 200 OK (BYE)")
	// The 183's SDP starts RTP at once (early media, §13.2.1 preview);
	// SIPp echoes it.
	if !strings.Contains(call.stdout.String(), "--- early media") {
		t.Errorf("no early media\n%s", call)
	}
	if sent, recv := rtpCounts(t, call); sent < 60 || recv < 50 {
		t.Errorf("RTP sent %d, received %d: want about 75 (0.5 s early, 1 s answered)", sent, recv)
	}
}

// TestParleyCallLostACK: SIPp behaves as if Parley's ACK were lost and
// retransmits the 200; Parley ACKs the retransmission (§13.2.2.4) and the
// call ends normally with BYE.
func TestParleyCallLostACK(t *testing.T) {
	sippPath(t)
	// -nr: SIPp's own retransmission logic is off, so the identical ACK
	// that Parley sends again for the retransmitted 200 reaches the
	// scenario's second <recv request="ACK"> instead of being taken for a
	// retransmission of the first one (which SIPp would answer by sending
	// the 200 again, and so on).
	port, wait := sippUAS(t, "ua_uas_lostack.xml", "u1", "-nr")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	call := startParley(t, 30*time.Second, "call", "--duration", "1500ms", target)
	if code := call.wait(); code != 0 {
		_, out := wait()
		t.Fatalf("parley call exit %d\n%s\nSIPp:\n%s", code, call, out)
	}
	sippOK(t, wait)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"<-- 200 OK (INVITE)", "--> ACK "+sippC, "--> BYE "+sippC, "<-- 200 OK (BYE)")
}

// TestParleyMessageToSIPp: `parley message` sends a MESSAGE outside a
// dialog; SIPp checks its body and type and answers 200; parley exits 0.
// A 4xx answer makes it exit 1.
func TestParleyMessageToSIPp(t *testing.T) {
	sippPath(t)
	port, wait := sippUAS(t, "ua_uas_message.xml", "u1")
	msg := startParley(t, 20*time.Second, "message", "-v", fmt.Sprintf("sip:sipp@127.0.0.1:%d", port), "hello from parley")
	if code := msg.wait(); code != 0 {
		_, out := wait()
		t.Fatalf("parley message exit %d\n%s\nSIPp:\n%s", code, msg, out)
	}
	sippOK(t, wait)
	if !strings.Contains(msg.stdout.String(), "200 OK") {
		t.Errorf("no 200 OK printed\n%s", msg)
	}
	if !strings.Contains(msg.stderr.String(), " --> ") || !strings.Contains(msg.stderr.String(), "MESSAGE sip:sipp@") {
		t.Errorf("-v printed no ladder\n%s", msg)
	}
}

// freeMediaPort returns a UDP port P, free with P+2 on 127.0.0.1 at the
// time of the call, for SIPp's -mp: its RTP echo binds P (audio) and P+2
// (video), and exits if either is taken.
func freeMediaPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		p := freePort(t)
		if p+2 > 65535 {
			continue
		}
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+2))
		if err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no UDP port P free with P+2")
	return 0
}

// freeTCPPort returns a port free on 127.0.0.1 for both TCP and UDP at the
// time of the call (SIPp and parley bind one or the other).
func freeTCPPort(t *testing.T) int {
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
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// sippCallsParley starts `parley answer` with args, runs the one-call SIPp
// UAC scenario xml against it (RTP echoed), and returns the answer process
// once it has exited 0 and SIPp has succeeded.
func sippCallsParley(t *testing.T, xml string, args ...string) (ans *parleyProc, port int) {
	t.Helper()
	port = freeTCPPort(t)
	ans = startParley(t, 30*time.Second, append([]string{"answer", "--local", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1"}, args...)...)
	ans.waitFor(t, "answering calls at")
	_, wait := sipp(t, 30*time.Second, "-sf", scenario(xml), fmt.Sprintf("127.0.0.1:%d", port),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeTCPPort(t)), "-m", "1", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPort(t)),
		"-timeout", "25s", "-timeout_error", "-recv_timeout", "10s")
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s\nparley:\n%s", err, out, ans)
	}
	if code := ans.wait(); code != 0 {
		t.Fatalf("parley answer exit %d\n%s", code, ans)
	}
	return ans, port
}

// TestParleyAnswersEarlyMedia: `parley answer --early-media` answers with
// 183 and SDP at once, sends RTP during the --ring time, then 200.
func TestParleyAnswersEarlyMedia(t *testing.T) {
	sippPath(t)
	ans, port := sippCallsParley(t, "ua_uac_early.xml", "--early-media", "--ring", "500ms")
	me := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
	wantLadder(t, ans, "<-- INVITE "+me, "--> 183 Session Progress (INVITE)", "--> 200 OK (INVITE)", "<-- ACK "+me, "<-- BYE "+me, "--> 200 OK (BYE)")
	if !strings.Contains(ans.stdout.String(), "--- early media") {
		t.Errorf("no early media\n%s", ans)
	}
	// 500 ms of early media and 500 ms of call: about 50 packets; with
	// RTP only after the 200 there would be about 25.
	if sent, recv := rtpCounts(t, ans); sent < 40 || recv < 30 {
		t.Errorf("RTP sent %d, received %d", sent, recv)
	}
}

// TestParleyAnswersPRACK: a caller supporting 100rel gets a reliable 180
// from `parley answer --100rel` (Require: 100rel, RSeq), PRACKs it, and
// only then is the call answered (RFC 3262).
func TestParleyAnswersPRACK(t *testing.T) {
	sippPath(t)
	ans, port := sippCallsParley(t, "ua_uac_prack.xml", "--100rel", "--ring", "200ms")
	me := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
	wantLadder(t, ans, "<-- INVITE "+me, "--> 180 Ringing (INVITE)", "<-- PRACK "+me, "--> 200 OK (PRACK)", "--> 200 OK (INVITE)",
		"<-- ACK "+me, "<-- BYE "+me, "--> 200 OK (BYE)")
}

// TestParleyAnswerNeverACKed: SIPp never ACKs; `parley answer` (T1 = 50
// ms) retransmits the 200 with T1 doubling up to T2, and after 64·T1 =
// 3.2 s ends the session with BYE (§13.3.1.4).
func TestParleyAnswerNeverACKed(t *testing.T) {
	sippPath(t)
	ans, port := sippCallsParley(t, "ua_uac_noack.xml", "--t1", "50ms")
	got := ladder(ans.stdout.String())
	oks := 0
	for _, l := range got {
		if l == "--> 200 OK (INVITE)" {
			oks++
		}
	}
	// 0, 50, 150, 350, 750, 1150 ... 3150 ms: T2 = 8·T1 = 400 ms caps the
	// interval, so about 10 copies in 3.2 s.
	if oks < 7 || oks > 12 {
		t.Errorf("%d copies of the 200, want about 10\n%s", oks, ans)
	}
	me := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
	want := []string{"<-- INVITE " + me, "--> 180 Ringing (INVITE)"}
	for range oks {
		want = append(want, "--> 200 OK (INVITE)")
	}
	// The BYE is a non-INVITE request over UDP: its client transaction
	// retransmits it every T1 = 50 ms until a response comes (Timer E,
	// §17.1.2.2), and SIPp answers each copy it gets (a retransmitted
	// request gets the response again, §17.2.2), so a slow SIPp means
	// several identical BYEs and up to as many 200s. The BYE goes out in
	// the UA's background, so its 200 is printed only if it arrives before
	// parley exits (SIPp's scenario checks it was sent).
	var bye string
	byes, byeOKs := 0, 0
	rest := got[:0:0]
	for _, l := range got {
		switch {
		case strings.HasPrefix(l, "--> BYE sip:sipp@127.0.0.1:"):
			if bye != "" && l != bye {
				t.Errorf("BYEs to different targets: %q and %q\n%s", bye, l, ans)
			}
			bye = l
			byes++
			if byes == 1 {
				rest = append(rest, l)
			}
		case l == "<-- 200 OK (BYE)":
			byeOKs++
		default:
			rest = append(rest, l)
		}
	}
	if bye == "" {
		t.Errorf("no BYE after the 200s\n%s", ans)
	}
	// Timer F (64·T1 = 3.2 s) bounds the retransmissions: at most 11
	// copies; the first 200 stops them.
	if byes > 11 || byeOKs > byes {
		t.Errorf("%d BYEs and %d 200 OK (BYE)\n%s", byes, byeOKs, ans)
	}
	want = append(want, bye)
	got = rest
	checkLadder(t, got, ans, want...)
	if !strings.Contains(ans.stdout.String(), "no ACK") {
		t.Errorf("the end of the call does not say why\n%s", ans)
	}
}

// parleyCallsSIPp runs `parley call` with args against the one-call SIPp
// UAS scenario xml and returns the call process (exited 0) and SIPp's
// port, once SIPp has succeeded.
func parleyCallsSIPp(t *testing.T, xml string, sippArgs []string, args ...string) (*parleyProc, int) {
	t.Helper()
	port, wait := sippUAS(t, xml, "u1", sippArgs...)
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	call := startParley(t, 40*time.Second, append(append([]string{"call"}, args...), target)...)
	if code := call.wait(); code != 0 {
		_, out := wait()
		t.Fatalf("parley call exit %d\n%s\nSIPp:\n%s", code, call, out)
	}
	if err, out := wait(); err != nil {
		t.Fatalf("SIPp failed: %v\n%s\nparley:\n%s", err, out, call)
	}
	return call, port
}

// TestParleyCallCancel: `parley call --cancel-after` sends CANCEL after
// the 180 (§9.1), with a Reason (RFC 3326); SIPp answers 200 and 487, and
// Parley's INVITE transaction ACKs the 487. parley exits 0 (cancelled as
// asked).
func TestParleyCallCancel(t *testing.T) {
	sippPath(t)
	call, port := parleyCallsSIPp(t, "ua_uas_cancel.xml", nil, "--cancel-after", "300ms")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "--> CANCEL "+target, "<-- 200 OK (CANCEL)",
		"<-- 487 Request Terminated (INVITE)", "--> ACK "+target)
	if !strings.Contains(call.stdout.String(), "--- call cancelled") {
		t.Errorf("no cancellation reported\n%s", call)
	}
}

// TestParleyCallForked2xx: two 2xx with different To tags (two forked
// legs) reach `parley call`: it ACKs both (§13.2.2.4), keeps the first and
// sends BYE on the second at once; the first ends with BYE later.
func TestParleyCallForked2xx(t *testing.T) {
	sippPath(t)
	call, port := parleyCallsSIPp(t, "ua_uas_fork.xml", nil, "--duration", "1s")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"<-- 200 OK (INVITE)", "--> ACK "+sippC, "--> BYE "+sippC, "<-- 200 OK (BYE)", "--> BYE "+sippC, "<-- 200 OK (BYE)")
}

// TestParleyCallHoldResume: `parley call --hold` sends a re-INVITE with
// a=sendonly (RFC 3264 §8.4), then one with a=sendrecv; SIPp checks both.
func TestParleyCallHoldResume(t *testing.T) {
	sippPath(t)
	call, port := parleyCallsSIPp(t, "ua_uas_hold.xml", nil, "--duration", "1500ms", "--hold", "300ms")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> INVITE "+sippC, "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> INVITE "+sippC, "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> BYE "+sippC, "<-- 200 OK (BYE)")
	for _, ev := range []string{"--- on hold", "--- resumed"} {
		if !strings.Contains(call.stdout.String(), ev) {
			t.Errorf("no %q\n%s", ev, call)
		}
	}
}

// TestParleyCallGlare: SIPp sends its own re-INVITE while Parley's is
// pending; Parley answers it 491, gets 491 for its own, and retries after
// the §14.1 delay (2.1-4 s for the Call-ID owner), which succeeds.
func TestParleyCallGlare(t *testing.T) {
	sippPath(t)
	start := time.Now()
	call, port := parleyCallsSIPp(t, "ua_uas_glare.xml", nil, "--duration", "6s", "--hold", "300ms")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	me := ""
	for _, l := range ladder(call.stdout.String()) {
		if strings.HasPrefix(l, "<-- INVITE ") {
			me = strings.TrimPrefix(l, "<-- INVITE ")
		}
	}
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> INVITE "+sippC, "<-- INVITE "+me, "--> 491 Request Pending (INVITE)", "<-- ACK "+me,
		"<-- 491 Request Pending (INVITE)", "--> ACK "+sippC,
		"--> INVITE "+sippC, "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> INVITE "+sippC, "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> BYE "+sippC, "<-- 200 OK (BYE)")
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("the call took %v: the retry did not wait the §14.1 time", d)
	}
}

// TestParleyCallPRACK: SIPp sends a reliable 180 (Require: 100rel, RSeq);
// `parley call` PRACKs it with RAck before the 200 (RFC 3262 §4).
func TestParleyCallPRACK(t *testing.T) {
	sippPath(t)
	call, port := parleyCallsSIPp(t, "ua_uas_prack.xml", nil, "--duration", "500ms")
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	sippC := fmt.Sprintf("sip:sipp@127.0.0.1:%d;transport=UDP", port)
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "--> PRACK "+sippC, "<-- 200 OK (PRACK)",
		"<-- 200 OK (INVITE)", "--> ACK "+sippC, "--> BYE "+sippC, "<-- 200 OK (BYE)")
}

// TestParleyAnswerInfoMessage: SIPp sends a MESSAGE outside any dialog to
// `parley answer`, then calls it and sends INFO and MESSAGE within the
// call; each gets 200 and parley prints what it received.
func TestParleyAnswerInfoMessage(t *testing.T) {
	sippPath(t)
	port := freeTCPPort(t)
	ans := startParley(t, 30*time.Second, "answer", "--local", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1")
	ans.waitFor(t, "answering calls at")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	_, wait := sipp(t, 20*time.Second, "-sf", scenario("uac_message.xml"), addr, "-i", "127.0.0.1", "-p", strconv.Itoa(freeTCPPort(t)),
		"-m", "1", "-timeout", "15s", "-timeout_error", "-recv_timeout", "5s")
	sippOK(t, wait)
	_, wait = sipp(t, 30*time.Second, "-sf", scenario("ua_uac_midcall.xml"), addr, "-i", "127.0.0.1", "-p", strconv.Itoa(freeTCPPort(t)),
		"-m", "1", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPort(t)), "-timeout", "25s", "-timeout_error", "-recv_timeout", "10s")
	sippOK(t, wait)
	if code := ans.wait(); code != 0 {
		t.Fatalf("parley answer exit %d\n%s", code, ans)
	}
	me := "sip:parley@" + addr
	wantLadder(t, ans, "<-- MESSAGE sip:echo@"+addr, "--> 200 OK (MESSAGE)",
		"<-- INVITE "+me, "--> 180 Ringing (INVITE)", "--> 200 OK (INVITE)", "<-- ACK "+me,
		"<-- INFO "+me, "--> 200 OK (INFO)", "<-- MESSAGE "+me, "--> 200 OK (MESSAGE)", "<-- BYE "+me, "--> 200 OK (BYE)")
	out := ans.stdout.String()
	for _, want := range []string{`MESSAGE outside a dialog from sip:sipp@127.0.0.1:`, `: "hello 1`,
		`INFO application/dtmf-relay: "Signal=5\r\nDuration=160`, `MESSAGE in the call from sip:sipp@127.0.0.1:`, `: "hello within the call`} {
		if !strings.Contains(out, want) {
			t.Errorf("answer did not print %q\n%s", want, ans)
		}
	}
}

// TestParleyAnswerEarlyUpdate: in the early dialog of a reliable 183,
// SIPp sends UPDATE with a new offer (a=sendonly); `parley answer` answers
// it (a=recvonly) before the call is answered (RFC 3311 §5.1).
func TestParleyAnswerEarlyUpdate(t *testing.T) {
	sippPath(t)
	ans, port := sippCallsParley(t, "ua_uac_update.xml", "--100rel", "--early-media", "--ring", "600ms")
	me := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
	wantLadder(t, ans, "<-- INVITE "+me, "--> 183 Session Progress (INVITE)", "<-- PRACK "+me, "--> 200 OK (PRACK)",
		"<-- UPDATE "+me, "--> 200 OK (UPDATE)", "--> 200 OK (INVITE)", "<-- ACK "+me, "<-- BYE "+me, "--> 200 OK (BYE)")
}

// TestParleyCallInfoMessage: `parley call --message --info` sends a
// MESSAGE and a legacy INFO within the answered call; SIPp checks both.
func TestParleyCallInfoMessage(t *testing.T) {
	sippPath(t)
	call, port := parleyCallsSIPp(t, "ua_uas_midcall.xml", nil, "--duration", "500ms",
		"--message", "hello from the call", "--info", `Signal=5\nDuration=160`)
	target := fmt.Sprintf("sip:sipp@127.0.0.1:%d", port)
	sippC := target + ";transport=UDP"
	wantLadder(t, call, "--> INVITE "+target, "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)", "--> ACK "+sippC,
		"--> MESSAGE "+sippC, "<-- 200 OK (MESSAGE)", "--> INFO "+sippC, "<-- 200 OK (INFO)", "--> BYE "+sippC, "<-- 200 OK (BYE)")
}

// TestParleyAnswerCancelled: SIPp cancels while `parley answer --ring`
// rings; Parley answers the CANCEL 200 and the INVITE 487 (§9.2), takes
// the ACK, and counts the call as ended.
func TestParleyAnswerCancelled(t *testing.T) {
	sippPath(t)
	ans, port := sippCallsParley(t, "ua_uac_cancel.xml", "--ring", "5s")
	me := fmt.Sprintf("sip:parley@127.0.0.1:%d", port)
	// The ACK of the 487 is absorbed by the INVITE server transaction
	// (§17.2.1); whether parley prints it before exiting is a matter of
	// timing, so only SIPp's scenario checks that it was sent.
	got := ladder(ans.stdout.String())
	if n := len(got); n > 0 && got[n-1] == "<-- ACK "+me {
		got = got[:n-1]
	}
	// The 180 and the 200 to the CANCEL are sent on different goroutines
	// and the transport taps a message after writing it, so the 180 can be
	// printed after the 200 (CANCEL) although it went out first. The wire
	// order is SIPp's to check: its scenario sends the CANCEL only once it
	// has the 180 (§9.1: no CANCEL before a provisional response). The
	// ladder's other orders stay exact.
	r, c := slices.Index(got, "--> 180 Ringing (INVITE)"), slices.Index(got, "--> 200 OK (CANCEL)")
	if r >= 0 && c >= 0 && c < r {
		got = slices.Clone(got)
		got[r], got[c] = got[c], got[r]
	}
	checkLadder(t, got, ans, "<-- INVITE "+me, "--> 180 Ringing (INVITE)", "<-- CANCEL "+me, "--> 200 OK (CANCEL)",
		"--> 487 Request Terminated (INVITE)")
	if !strings.Contains(ans.stdout.String(), "--- call ended: ua: ") {
		t.Errorf("the cancelled call did not end\n%s", ans)
	}
}

// TestParleyCallForkedThroughServe: two SIPp UAS register for
// sip:fork@127.0.0.1 at an in-process parley serve; `parley call --proxy`
// reaches both (parallel forking), gets a 2xx from each, ACKs both, keeps
// one and BYEs the other at once; both UAS scenarios complete.
func TestParleyCallForkedThroughServe(t *testing.T) {
	sippPath(t)
	_, proxyAddr := startServe(t, nil)
	c := &stack.Client{}
	defer c.Close()
	var waits []func() (error, string)
	for range 2 {
		port := freeTCPPort(t)
		reg := &ua.Registration{Client: c, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
			AoR:     sip.URI{Scheme: "sip", User: "fork", Host: "127.0.0.1"},
			Contact: sip.URI{Scheme: "sip", User: "fork", Host: "127.0.0.1", Port: uint16(port)},
			Options: []stack.Option{stack.WithDest(transport.Dest{Network: transport.UDP, Addr: proxyAddr})}}
		if _, err := reg.Register(t.Context()); err != nil {
			t.Fatal(err)
		}
		cmd, wait := sipp(t, 30*time.Second, "-sf", scenario("ua_uas_forkleg.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
			"-m", "1", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPort(t)), "-timeout", "25s", "-timeout_error")
		waits = append(waits, wait)
		waitBound(t, cmd, wait, port, false)
	}
	call := startParley(t, 30*time.Second, "call", "--proxy", "sip:"+proxyAddr.String(), "--duration", "1s", "sip:fork@127.0.0.1")
	if code := call.wait(); code != 0 {
		t.Fatalf("parley call exit %d\n%s", code, call)
	}
	for i, wait := range waits {
		if err, out := wait(); err != nil {
			t.Fatalf("SIPp UAS %d failed: %v\n%s\nparley:\n%s", i, err, out, call)
		}
	}
	count := map[string]int{}
	var sent []string
	for _, l := range ladder(call.stdout.String()) {
		f := strings.Fields(l)
		count[f[0]+" "+f[1]+" "+strings.Join(f[2:], " ")]++
		if f[0] == "-->" {
			sent = append(sent, f[1])
		}
	}
	if count["<-- 200 OK (INVITE)"] != 2 {
		t.Errorf("%d 2xx to the INVITE, want one per leg\n%s", count["<-- 200 OK (INVITE)"], call)
	}
	// INVITE, ACK (kept leg), ACK and BYE (other leg), BYE (kept leg)
	// after --duration.
	if got := strings.Join(sent, " "); got != "INVITE ACK ACK BYE BYE" {
		t.Errorf("sent %s, want INVITE ACK ACK BYE BYE\n%s", got, call)
	}
	if count["<-- 200 OK (BYE)"] != 2 {
		t.Errorf("%d BYEs answered, want 2\n%s", count["<-- 200 OK (BYE)"], call)
	}
}
