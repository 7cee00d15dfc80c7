package bench

import (
	"os"
	"slices"
	"testing"
	"time"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/parleysip/parley/sip"
)

// TestInterleavedRatio measures the parse speed ratio sipgo/parley in
// short alternating rounds, so that load from other processes on a shared
// machine hits both libraries alike; it prints the median ratio per
// fixture. It runs only with PARLEY_RATIO=1 (`make bench` sets it): a
// timing is never a test assertion.
func TestInterleavedRatio(t *testing.T) {
	if os.Getenv("PARLEY_RATIO") == "" {
		t.Skip("set PARLEY_RATIO=1 to measure (make bench does)")
	}
	const rounds = 15
	const slice = 100 * time.Millisecond
	for _, name := range fixtures {
		data := loadFixture(t, name)
		p := sipgo.NewParser()
		run := func(f func()) float64 { // ns per op over one slice
			n := 0
			start := time.Now()
			for time.Since(start) < slice {
				for range 100 {
					f()
				}
				n += 100
			}
			return float64(time.Since(start).Nanoseconds()) / float64(n)
		}
		var ratios, pns, gns []float64
		for range rounds {
			pt := run(func() { m, _ := sip.Parse(data); sinkParley = m; _ = m.Headers().TopVia().Branch() })
			gt := run(func() { m, _ := p.ParseSIP(data); sinkSipgo = m })
			ratios, pns, gns = append(ratios, gt/pt), append(pns, pt), append(gns, gt)
		}
		slices.Sort(ratios)
		slices.Sort(pns)
		slices.Sort(gns)
		t.Logf("%-13s parse: parley %6.0f ns, sipgo %6.0f ns (medians), median ratio sipgo/parley %.2fx", name, pns[rounds/2], gns[rounds/2], ratios[rounds/2])
	}
}
