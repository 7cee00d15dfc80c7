package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/transport"
)

// The transport taps a sent request after writing it, so its response can
// be tapped first: the ladder holds the response until the request is
// printed, and prints a response with no request of ours after holdFor.
func TestLadderOrder(t *testing.T) {
	const req = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKaaa\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	res := strings.Replace(strings.Replace(req, "INVITE sip:bob@127.0.0.1 SIP/2.0", "SIP/2.0 180 Ringing", 1), "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=2", 1)
	stray := strings.Replace(res, "z9hG4bKaaa", "z9hG4bKother", 1)
	var short, wire bytes.Buffer
	l := newLadder(&short, &wire, 2)
	ap := netip.MustParseAddrPort("127.0.0.1:5060")
	now := time.Now()
	l.tap(transport.TapEvent{Direction: transport.Inbound, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: []byte(res)})
	l.tap(transport.TapEvent{Direction: transport.Inbound, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: []byte(stray)})
	l.tap(transport.TapEvent{Direction: transport.Outbound, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: []byte(req)})
	l.tap(transport.TapEvent{Direction: transport.Outbound, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: []byte("\r\n\r\n")})
	time.Sleep(3 * holdFor)
	l.mu.Lock()
	got := short.String()
	w := wire.String()
	l.mu.Unlock()
	stamp := now.Format("15:04:05.000")
	want := stamp + " --> INVITE sip:bob@127.0.0.1\n" + stamp + " <-- 180 Ringing (INVITE)\n" + stamp + " <-- 180 Ringing (INVITE)\n"
	if got != want {
		t.Errorf("ladder:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(w, "UDP  127.0.0.1:5060 --> 127.0.0.1:5060  INVITE sip:bob@127.0.0.1 SIP/2.0\n    Via: SIP/2.0/UDP") {
		t.Errorf("-vv wire view:\n%s", w)
	}
}

// An ACK tapped before the 2xx it acknowledges, and a PRACK before its
// reliable provisional, wait for them.
func TestLadderHoldsACKAndPRACK(t *testing.T) {
	const base = "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: c\r\nCSeq: %s\r\n%sContent-Length: 0\r\n\r\n"
	msg := func(first, branch, cseq, extra string) []byte {
		return []byte(first + "\r\n" + fmt.Sprintf(base, branch, cseq, extra))
	}
	var short bytes.Buffer
	l := newLadder(&short, nil, 0)
	ap := netip.MustParseAddrPort("127.0.0.1:5060")
	now := time.Now()
	for _, ev := range []struct {
		dir  transport.Direction
		data []byte
	}{
		{transport.Inbound, msg("INVITE sip:bob@127.0.0.1 SIP/2.0", "i", "1 INVITE", "")},
		{transport.Inbound, msg("PRACK sip:bob@127.0.0.1 SIP/2.0", "p", "2 PRACK", "RAck: 1 1 INVITE\r\n")},
		{transport.Outbound, msg("SIP/2.0 180 Ringing", "i", "1 INVITE", "Require: 100rel\r\nRSeq: 1\r\n")},
		{transport.Inbound, msg("ACK sip:bob@127.0.0.1 SIP/2.0", "a", "1 ACK", "")},
		{transport.Outbound, msg("SIP/2.0 200 OK", "i", "1 INVITE", "")},
	} {
		l.tap(transport.TapEvent{Direction: ev.dir, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: ev.data})
	}
	l.mu.Lock()
	got := short.String()
	l.mu.Unlock()
	stamp := now.Format("15:04:05.000")
	want := stamp + " <-- INVITE sip:bob@127.0.0.1\n" + stamp + " --> 180 Ringing (INVITE)\n" + stamp + " <-- PRACK sip:bob@127.0.0.1\n" + stamp + " --> 200 OK (INVITE)\n" + stamp + " <-- ACK sip:bob@127.0.0.1\n"
	if got != want {
		t.Errorf("ladder:\n%s\nwant:\n%s", got, want)
	}
}

// A request received in a dialog waits for the final responses to the
// earlier requests received in it.
func TestLadderHoldsNextRequest(t *testing.T) {
	const base = "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: c\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n"
	msg := func(first, branch, cseq string) []byte {
		return []byte(first + "\r\n" + fmt.Sprintf(base, branch, cseq))
	}
	var short bytes.Buffer
	l := newLadder(&short, nil, 0)
	ap := netip.MustParseAddrPort("127.0.0.1:5060")
	now := time.Now()
	for _, ev := range []struct {
		dir  transport.Direction
		data []byte
	}{
		{transport.Inbound, msg("INFO sip:bob@127.0.0.1 SIP/2.0", "i", "2 INFO")},
		{transport.Inbound, msg("MESSAGE sip:bob@127.0.0.1 SIP/2.0", "m", "3 MESSAGE")},
		{transport.Outbound, msg("SIP/2.0 200 OK", "i", "2 INFO")},
		{transport.Outbound, msg("SIP/2.0 200 OK", "m", "3 MESSAGE")},
	} {
		l.tap(transport.TapEvent{Direction: ev.dir, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: ev.data})
	}
	l.mu.Lock()
	got := short.String()
	l.mu.Unlock()
	stamp := now.Format("15:04:05.000")
	want := stamp + " <-- INFO sip:bob@127.0.0.1\n" + stamp + " --> 200 OK (INFO)\n" + stamp + " <-- MESSAGE sip:bob@127.0.0.1\n" + stamp + " --> 200 OK (MESSAGE)\n"
	if got != want {
		t.Errorf("ladder:\n%s\nwant:\n%s", got, want)
	}
}

// A response sent is printed after the request it answers, even when that
// request is held.
func TestLadderHoldsSentResponse(t *testing.T) {
	const base = "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: c\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n"
	msg := func(first, branch, cseq string) []byte {
		return []byte(first + "\r\n" + fmt.Sprintf(base, branch, cseq))
	}
	var short bytes.Buffer
	l := newLadder(&short, nil, 0)
	ap := netip.MustParseAddrPort("127.0.0.1:5060")
	now := time.Now()
	for _, ev := range []struct {
		dir  transport.Direction
		data []byte
	}{
		{transport.Inbound, msg("INFO sip:bob@127.0.0.1 SIP/2.0", "i", "2 INFO")},
		{transport.Inbound, msg("MESSAGE sip:bob@127.0.0.1 SIP/2.0", "m", "3 MESSAGE")}, // sent after the 200 to the INFO...
		{transport.Outbound, msg("SIP/2.0 200 OK", "m", "3 MESSAGE")},                   // ...whose tap comes late
		{transport.Outbound, msg("SIP/2.0 200 OK", "i", "2 INFO")},
		{transport.Inbound, msg("BYE sip:bob@127.0.0.1 SIP/2.0", "b", "4 BYE")},
		{transport.Outbound, msg("SIP/2.0 200 OK", "b", "4 BYE")},
	} {
		l.tap(transport.TapEvent{Direction: ev.dir, Network: transport.UDP, Local: ap, Remote: ap, Time: now, Data: ev.data})
	}
	l.mu.Lock()
	got := short.String()
	l.mu.Unlock()
	stamp := now.Format("15:04:05.000")
	var want string
	for _, line := range []string{"<-- INFO sip:bob@127.0.0.1", "--> 200 OK (INFO)", "<-- MESSAGE sip:bob@127.0.0.1", "--> 200 OK (MESSAGE)",
		"<-- BYE sip:bob@127.0.0.1", "--> 200 OK (BYE)"} {
		want += stamp + " " + line + "\n"
	}
	if got != want {
		t.Errorf("ladder:\n%s\nwant:\n%s", got, want)
	}
}
