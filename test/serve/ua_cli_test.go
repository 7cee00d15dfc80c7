package serve_test

// Issue #6: `parley call` and `parley answer` as separate processes over
// TCP with a WAV file, and a call placed through `parley serve` with
// --proxy to a `parley answer` registered there.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wavFile writes 8 kHz 16-bit mono PCM samples as a WAV file.
func wavFile(t *testing.T, name string, samples []int16) {
	t.Helper()
	b := make([]byte, 44+2*len(samples))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(samples)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(samples)))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// readSamples reads back the samples of a WAV file written by parley
// (44-byte header).
func readSamples(t *testing.T, name string) []int16 {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[36:40]) != "data" {
		t.Fatalf("%s is not a plain WAV file", name)
	}
	out := make([]int16, (len(b)-44)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[44+2*i:]))
	}
	return out
}

// background starts a parley command and kills it by PID on cleanup.
func background(t *testing.T, ctx context.Context, bin string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out
}

func rtpLine(t *testing.T, out string) (sent, recv int) {
	t.Helper()
	i := strings.LastIndex(out, "RTP: sent ")
	if i < 0 {
		t.Fatalf("no RTP counts in:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i:], "RTP: sent %d packets, received %d", &sent, &recv); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return sent, recv
}

// TestCallBetweenProcessesTCPWAV: over TCP, the caller plays a WAV file
// and the callee (tone) records what it receives; RTP flows both ways and
// the recording is the file, within G.711 quantisation.
func TestCallBetweenProcessesTCPWAV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildParley(t)
	dir := t.TempDir()
	in, rec := filepath.Join(dir, "in.wav"), filepath.Join(dir, "rec.wav")
	samples := make([]int16, 8000) // 1 s: a 700 Hz tone, louder and louder
	for i := range samples {
		samples[i] = int16(float64(i) * 2 * math.Sin(2*math.Pi*700*float64(i)/8000))
	}
	wavFile(t, in, samples)
	port := freePort(t, "tcp")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	answer, aout := background(t, ctx, bin, "answer", "--transport", "tcp", "--local", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1", "--record", rec)
	time.Sleep(300 * time.Millisecond)
	out, err := exec.CommandContext(ctx, bin, "call", "--transport", "tcp", "--wav", in, fmt.Sprintf("sip:bob@127.0.0.1:%d", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("call: %v\n%s\nanswer:\n%s", err, out, aout.String())
	}
	if err := answer.Wait(); err != nil {
		t.Fatalf("answer: %v\n%s", err, aout.String())
	}
	if sent, recv := rtpLine(t, string(out)); sent != 50 || recv < 40 {
		t.Errorf("caller: RTP sent %d (want 50: 1 s of 20 ms packets), received %d\n%s", sent, recv, out)
	}
	if sent, recv := rtpLine(t, aout.String()); sent < 40 || recv != 50 {
		t.Errorf("callee: RTP sent %d, received %d (want 50)\n%s", sent, recv, aout.String())
	}
	for _, want := range []string{"--> INVITE sip:bob@127.0.0.1", "<-- 200 OK (INVITE)", "--> ACK sip:parley@127.0.0.1:", ";transport=tcp", "--> BYE"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("caller ladder lacks %q:\n%s", want, out)
		}
	}
	got := readSamples(t, rec)
	if len(got) != len(samples) {
		t.Fatalf("recorded %d samples, sent %d", len(got), len(samples))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(samples[i])); d > max(40, math.Abs(float64(samples[i]))/16) {
			t.Fatalf("sample %d: recorded %d, sent %d", i, got[i], samples[i])
		}
	}
}

// TestCallThroughServe: `parley answer` is registered at `parley serve`
// (by `parley register --contact`); `parley call --proxy` reaches it
// through the proxy (pre-loaded Route, Record-Route: the ACK and BYE go
// through the proxy too).
func TestCallThroughServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildParley(t)
	sipPort, adminPort, ansPort := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "udp")
	startServe(t, bin, filepath.Join(t.TempDir(), "data"), sipPort, adminPort)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	answer, aout := background(t, ctx, bin, "answer", "--local", fmt.Sprintf("127.0.0.1:%d", ansPort), "--count", "1", "--user", "bob")
	proxy := fmt.Sprintf("sip:127.0.0.1:%d", sipPort)
	if out, err := exec.CommandContext(ctx, bin, "register", "--proxy", proxy, "--contact", fmt.Sprintf("sip:bob@127.0.0.1:%d", ansPort), "sip:bob@127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "call", "-vv", "--proxy", proxy, "--duration", "1s", "sip:bob@127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("call: %v\n%s\nanswer:\n%s", err, out, aout.String())
	}
	if err := answer.Wait(); err != nil {
		t.Fatalf("answer: %v\n%s", err, aout.String())
	}
	if sent, recv := rtpLine(t, string(out)); sent < 40 || recv < 40 {
		t.Errorf("RTP sent %d, received %d", sent, recv)
	}
	// The proxy record-routes: the ACK and BYE go to it, with the
	// callee's Contact as Request-URI (§12.2.1.1).
	callee := fmt.Sprintf("sip:bob@127.0.0.1:%d", ansPort)
	for _, want := range []string{"--> INVITE sip:bob@127.0.0.1\n", "<-- 180 Ringing (INVITE)", "<-- 200 OK (INVITE)",
		"--> ACK " + callee, "--> BYE " + callee, "<-- 200 OK (BYE)",
		fmt.Sprintf("--> 127.0.0.1:%d  INVITE sip:bob@127.0.0.1 SIP/2.0", sipPort),
		fmt.Sprintf("    Route: <sip:127.0.0.1:%d;lr>\n", sipPort),
		fmt.Sprintf("--> 127.0.0.1:%d  ACK %s SIP/2.0", sipPort, callee),
		fmt.Sprintf("--> 127.0.0.1:%d  BYE %s SIP/2.0", sipPort, callee)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("caller ladder lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(aout.String(), "<-- INVITE sip:bob@127.0.0.1:") {
		t.Errorf("callee did not get the INVITE:\n%s", aout.String())
	}
}
