package resolve

import (
	"net/netip"
	"testing"

	"github.com/parleysip/parley/transport"
)

func TestFailover(t *testing.T) {
	mk := func(n transport.Network, a string) Target {
		return Target{Network: n, Addr: netip.MustParseAddrPort(a)}
	}
	a := mk(transport.TCP, "192.0.2.1:5060")
	b := mk(transport.TCP, "192.0.2.2:5060")
	c := mk(transport.TCP, "192.0.2.3:5060")
	d := mk(transport.UDP, "192.0.2.1:5060") // same address as a, other transport
	e := mk(transport.TCP, "192.0.2.5:5060")

	f := NewFailover([]Target{a, b, c, d})
	if f.Remaining() != 4 {
		t.Fatalf("Remaining %d, want 4", f.Remaining())
	}
	f.Fail(c) // known bad before it is reached
	steps := []struct {
		want Target
		fail bool
	}{{a, true}, {b, false}, {d, false}}
	for i, st := range steps {
		g, ok := f.Next()
		if !ok || g != st.want {
			t.Fatalf("step %d: got %v %v, want %v", i, g, ok, st.want)
		}
		if st.fail {
			f.Fail(g)
		}
	}
	if g, ok := f.Next(); ok {
		t.Fatalf("Next after the end returned %v", g)
	}
	if !f.Failed(a) || !f.Failed(c) || f.Failed(b) || f.Failed(d) {
		t.Error("Failed reports the wrong targets")
	}
	// Targets added later (say, after a redirect) skip the blacklist.
	f.Add(a, e, c)
	if f.Remaining() != 1 {
		t.Errorf("Remaining %d, want 1", f.Remaining())
	}
	if g, ok := f.Next(); !ok || g != e {
		t.Fatalf("after Add: got %v %v, want %v", g, ok, e)
	}
	if _, ok := f.Next(); ok {
		t.Fatal("blacklisted target returned")
	}

	var zero Failover
	if _, ok := zero.Next(); ok || zero.Remaining() != 0 {
		t.Error("zero Failover is not empty")
	}
}
