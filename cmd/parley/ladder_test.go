package main

import (
	"bytes"
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
