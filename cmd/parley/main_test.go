package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleysip/parley/internal/leaktest"
)

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseValid(t *testing.T) {
	code, out, errs := runCmd(t, "", "parse", "../../sip/testdata/torture/wsinv.dat")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	for _, want := range []string{
		"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n",
		"Max-Forwards: 68\r\n",
		"Via: SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239\r\n",
		"Contact: \"Quoted string \\\"\\\"\" <sip:jdrosen@example.com>;newparam=newvalue;secondparam;q=0.33\r\n",
		"NewFangledHeader: newfangled value continued newfangled value\r\n",
		"Content-Length: 150\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r\n ") {
		t.Errorf("canonical output still folded:\n%s", out)
	}
}

func TestParseStdinAndRaw(t *testing.T) {
	msg := "OPTIONS sip:a@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:b@example.com>;tag=1\r\nt: <sip:a@example.com>\r\ni: x\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"
	code, out, _ := runCmd(t, msg, "parse", "--raw", "-")
	if code != 0 || out != msg {
		t.Errorf("--raw: exit %d, output %q, want the input", code, out)
	}
	code, out, _ = runCmd(t, msg, "parse", "-")
	if code != 0 || !strings.Contains(out, "Call-ID: x\r\n") {
		t.Errorf("canonical: exit %d, output %q", code, out)
	}
}

func TestParseError(t *testing.T) {
	code, out, errs := runCmd(t, "", "parse", "../../sip/testdata/torture/badvers.dat")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	for _, want := range []string{"unsupported SIP version", "line 1", "offset", "505 Version Not Supported", "^"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestParseStreamNeedsContentLength(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("../../sip/testdata/torture/inv2543.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCmd(t, string(data), "parse", "-"); code != 0 {
		t.Errorf("datagram parse: exit %d, want 0", code)
	}
	code, _, errs := runCmd(t, string(data), "parse", "--stream", "-")
	if code != 1 || !strings.Contains(errs, "Content-Length") {
		t.Errorf("stream parse: exit %d, stderr %s; want 1 and a Content-Length error", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	if code, _, _ := runCmd(t, "", "parse"); code != 2 {
		t.Errorf("missing argument: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "", "parse", "/nonexistent/file"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "", "nosuchcommand"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// TestMain fails the run if a command left goroutines of the stack or the
// UA (its RTP streams, ua.Media, among them) running.
func TestMain(m *testing.M) {
	leaktest.Main(m, "parley/ua.", "parley/stack.", "parley/transaction.", "parley/transport.")
}
