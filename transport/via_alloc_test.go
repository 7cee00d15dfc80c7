package transport

import (
	"net/netip"
	"testing"

	"github.com/parleysip/parley/sip"
)

// TestViaAllocs holds the allocation budgets of the Via work done for
// every request: stamping the top Via of one sent (the sent-by text is
// reused; ";rport" is already there when stack.Client made the Via) and
// adding received/rport to the one of a request received (one new
// parameter string, RFC 3581 §4).
func TestViaAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -race and -cover")
	}
	l := &Layer{}
	req := sip.NewRequest(sip.OPTIONS, sip.URI{Scheme: "sip", Host: "127.0.0.1"})
	req.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: ";branch=z9hG4bKabc;rport"})
	sentBy := netip.MustParseAddrPort("127.0.0.1:5060")
	l.stampVia(req, UDP, sentBy)
	if n := testing.AllocsPerRun(100, func() { l.stampVia(req, UDP, sentBy) }); n != 0 {
		t.Errorf("stampVia: %v allocations, want 0", n)
	}
	v := *req.TopVia()
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	if n := testing.AllocsPerRun(100, func() { receivedVia(v, src) }); n != 1 {
		t.Errorf("receivedVia: %v allocations, want 1", n)
	}
}
