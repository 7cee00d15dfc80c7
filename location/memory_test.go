package location

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/parleysip/parley/transport"
)

// realistic returns a binding like one a softphone behind NAT registers
// over TCP with RFC 5626 outbound: feature tags, instance-id, reg-id, a
// Path entry, a flow and a node.
func realistic(t testing.TB, i int, now time.Time) Binding {
	return Binding{
		Contact: mustContact(t, fmt.Sprintf("sip:user%06d@192.0.2.%d:49152;transport=tcp;ob", i, i%250),
			fmt.Sprintf(`;+sip.instance="<urn:uuid:00000000-0000-1000-8000-%012d>";reg-id=1;expires=3600`, i)),
		Expires:    now.Add(time.Hour),
		Q:          1000,
		CallID:     fmt.Sprintf("%016x@192.0.2.7", i*7919),
		CSeq:       uint32(i),
		Path:       []string{"<sip:edge1.example.com;lr;ob>"},
		InstanceID: fmt.Sprintf("urn:uuid:00000000-0000-1000-8000-%012d", i),
		RegID:      1,
		Received:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(1024+i%60000)),
		Flow: transport.Flow{
			Network: transport.TCP,
			Local:   netip.MustParseAddrPort("192.0.2.1:5060"),
			Remote:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(1024+i%60000)),
			ConnID:  uint64(i),
		},
		Node: "node-1",
	}
}

// TestMemoryPerBinding measures the heap the memory store holds for
// 100,000 bindings, one per AoR (the worst case: each AoR's overhead is
// paid by one binding). Target: under 1 KiB per binding.
func TestMemoryPerBinding(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 bindings")
	}
	const n = 100_000
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewMemory(MemoryOptions{})
	for i := range n {
		b := realistic(t, i, now)
		if _, err := s.Update(t.Context(), fmt.Sprintf("sip:user%06d@example.com", i), upsert(b)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("memory store: %.0f bytes per binding (%d bindings, %d AoRs)", per, n, s.Len())
	if per >= 1024 {
		t.Errorf("%.0f bytes per binding, want < 1024", per)
	}
	runtime.KeepAlive(s)
}

func BenchmarkMemoryUpdate(b *testing.B) {
	s := NewMemory(MemoryOptions{})
	now := time.Now()
	bind := realistic(b, 1, now)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		bind.CSeq = uint32(i)
		if _, err := s.Update(b.Context(), "sip:user1@example.com", upsert(bind)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	s := NewMemory(MemoryOptions{})
	now := time.Now()
	for i := range 1000 {
		if _, err := s.Update(b.Context(), fmt.Sprintf("sip:user%06d@example.com", i), upsert(realistic(b, i, now))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := s.Get(b.Context(), "sip:user000500@example.com"); len(r.Bindings) != 1 {
			b.Fatal("missing")
		}
	}
}

func BenchmarkBoltUpdateParallel(b *testing.B) {
	s, err := OpenBolt(b.TempDir()+"/loc.db", BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.Update(b.Context(), fmt.Sprintf("sip:user%06d@example.com", i%1000), upsert(realistic(b, i, now))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A lookup by AoR costs the copy it returns: the bindings slice and, for a
// binding with a Path, the Path slice.
func TestMemoryGetAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race")
	}
	s := NewMemory(MemoryOptions{})
	if _, err := s.Update(t.Context(), "sip:user1@example.com", upsert(realistic(t, 1, time.Now()))); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n := testing.AllocsPerRun(100, func() { s.Get(ctx, "sip:user1@example.com") }); n > 2 {
		t.Errorf("Get: %v allocs, budget 2", n)
	}
}
