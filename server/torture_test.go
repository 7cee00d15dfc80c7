package server

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
)

// tortureOutcome is what parley serve does with one RFC 4475 message sent
// on a TCP connection of its own.
type tortureOutcome struct {
	status sip.StatusCode // the response, or 0 for none
	closed bool           // no response: the connection is closed (framing lost)
}

// sendOverTCP writes msg on a new connection to addr and returns the
// first response, or whether the server closed the connection without
// one; with neither within wait, it returns a zero outcome.
func sendOverTCP(t *testing.T, addr string, msg []byte, wait time.Duration) (tortureOutcome, *sip.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	// Read the head only: a 400 copies the request's Via, From, To, Call-ID
	// and CSeq as received (§8.2.6.2), which may be the malformed ones.
	var head []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err == nil {
			continue
		}
		var ne net.Error
		switch {
		case len(head) > 0:
			t.Fatalf("a partial response: %q (%v)", head, err)
		case errors.As(err, &ne) && ne.Timeout():
			return tortureOutcome{}, nil
		default: // EOF or reset
			return tortureOutcome{closed: true}, nil
		}
	}
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	rest, ok := bytes.CutPrefix(line, []byte("SIP/2.0 "))
	code, err := strconv.Atoi(string(rest[:min(3, len(rest))]))
	if !ok || err != nil {
		t.Fatalf("not a response: %q", head)
	}
	res, _ := sip.Parse(head) // nil when it repeats malformed headers
	r, _ := res.(*sip.Response)
	return tortureOutcome{status: sip.StatusCode(code)}, r
}

// TestTortureOverTCP sends each of the 50 RFC 4475 messages to parley
// serve (proxy and registrar for its loopback domains, no authentication)
// on a TCP connection of its own and checks the answer INDEX.md calls
// for: 400 for the malformed requests whose response can be built, 505
// for SIP/7.0, 416 for an unknown Request-URI scheme, 420 for an unknown
// Proxy-Require, 501 for an unknown method with a mismatched CSeq, 483 for
// Max-Forwards 0 — validity first, then the relay policy's 403 for the
// valid requests to foreign domains. Responses, and requests without the
// headers a response needs, get nothing; a framing error (negative or
// repeated Content-Length, none at all on a stream) closes the
// connection once the requests read before it are answered (dblreq: the
// REGISTER and the INVITE, both 403, then the bytes after the INVITE's
// body lack a Content-Length); a message cut short (a Content-Length beyond its end, a
// header block without its blank line) waits for more. The server then
// still answers.
func TestTortureOverTCP(t *testing.T) {
	s := start(t, &Config{Listen: []string{"tcp:127.0.0.1:0"}, Store: "memory", Admin: "off"})
	addr := strings.TrimPrefix(s.Addrs()[0], "tcp:")
	refused := tortureOutcome{status: sip.StatusForbidden}
	bad := tortureOutcome{status: sip.StatusBadRequest}
	silent, closed := tortureOutcome{}, tortureOutcome{closed: true}
	want := map[string]tortureOutcome{
		"badaspec": bad, "badbranch": refused, "baddate": refused, "baddn": silent, "badinv01": bad,
		"badvers": {status: sip.StatusVersionNotSupported}, "bcast": silent, "bext01": {status: sip.StatusBadExtension},
		"bigcode": silent, "clerr": silent, "cparam01": refused, "cparam02": refused, "dblreq": refused,
		"esc01": refused, "esc02": refused, "escnull": refused, "escruri": bad, "insuf": silent,
		"intmeth": refused, "inv2543": closed, "invut": refused, "longreq": refused, "ltgtruri": bad,
		"lwsdisp": refused, "lwsruri": bad, "lwsstart": bad, "mcl01": closed, "mismatch01": bad,
		"mismatch02": {status: sip.StatusNotImplemented}, "mpart01": refused, "multi01": bad, "ncl": closed,
		"noreason": silent, "novelsc": {status: sip.StatusUnsupportedURIScheme}, "quotbal": bad,
		"regaut01": refused, "regbadct": bad, "regescrt": refused, "scalar02": bad, "scalarlg": silent,
		"sdp01": refused, "semiuri": refused, "test": silent, "transports": refused, "trws": bad,
		"unkscm": {status: sip.StatusUnsupportedURIScheme}, "unksm2": refused, "unreason": silent,
		"wsinv": refused, "zeromf": {status: sip.StatusTooManyHops},
	}
	files, err := filepath.Glob("../sip/testdata/torture/*.dat")
	if err != nil || len(files) != len(want) {
		t.Fatalf("%d torture files for %d expectations (%v)", len(files), len(want), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		w, ok := want[name]
		if !ok {
			t.Fatalf("%s: no expectation", name)
		}
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		wait := 5 * time.Second
		if w == silent {
			wait = 300 * time.Millisecond
		}
		if got, _ := sendOverTCP(t, addr, msg, wait); got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
	}
	opts := []byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-alive\r\nMax-Forwards: 70\r\n" +
		"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: alive\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	if got, _ := sendOverTCP(t, addr, opts, 5*time.Second); got.status != sip.StatusOK {
		t.Errorf("OPTIONS after the torture messages: %+v", got)
	}
}

// TestTortureRegistrar: the RFC 4475 REGISTER requests to a registrar for
// example.com. cparam01 and cparam02 succeed, and the Contact returned
// keeps "unknownparam" as a header parameter (§3.3.12) and then, once
// cparam02 replaced the binding from another Call-ID, as a URI parameter
// (§3.3.13); regescrt's contact keeps its escaped Route header (§3.3.14);
// escnull registers two distinct contacts for an AoR with an escaped NUL
// in it, not truncated there (§3.1.1.4).
func TestTortureRegistrar(t *testing.T) {
	s := start(t, &Config{Listen: []string{"tcp:127.0.0.1:0"}, Store: "memory", Admin: "off", Domains: []string{"example.com"}})
	addr := strings.TrimPrefix(s.Addrs()[0], "tcp:")
	register := func(name string) []sip.Contact {
		t.Helper()
		msg, err := os.ReadFile("../sip/testdata/torture/" + name + ".dat")
		if err != nil {
			t.Fatal(err)
		}
		got, res := sendOverTCP(t, addr, msg, 5*time.Second)
		if got.status != sip.StatusOK || res == nil {
			t.Fatalf("%s: %+v", name, got)
		}
		return res.Contacts()
	}
	uris := func(cs []sip.Contact) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.String())
		}
		return out
	}
	c1 := register("cparam01")
	if len(c1) != 1 || c1[0].URI.Params.Has("unknownparam") || !c1[0].Params.Has("unknownparam") {
		t.Errorf("cparam01: Contact %v, want unknownparam as a contact parameter", uris(c1))
	}
	c2 := register("cparam02")
	if len(c2) != 1 || !c2[0].URI.Params.Has("unknownparam") || c2[0].Params.Has("unknownparam") {
		t.Errorf("cparam02: Contact %v, want unknownparam as a URI parameter", uris(c2))
	}
	c3 := register("regescrt")
	if len(c3) != 1 || c3[0].URI.Headers != "Route=%3Csip:sip.example.com%3E" {
		t.Errorf("regescrt: Contact %v, want the escaped Route header kept", uris(c3))
	}
	c4 := register("escnull")
	if len(c4) != 2 || c4[0].URI.Equal(&c4[1].URI) {
		t.Errorf("escnull: Contact %v, want two distinct contacts", uris(c4))
	}
	aor, _ := location.CanonicalAoR(sip.URI{Scheme: "sip", User: "null-%00-null", Host: "example.com"})
	if !strings.Contains(aor, "null-\x00-null@") {
		t.Errorf("canonical AoR %q: the escaped NUL is not unescaped", aor)
	}
	rec, err := s.Store().Get(t.Context(), aor)
	if err != nil || len(rec.Bindings) != 2 {
		t.Errorf("escnull's AoR in the store: %+v, %v", rec, err)
	}
}
