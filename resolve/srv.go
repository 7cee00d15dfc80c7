package resolve

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// orderSRV returns srvs in the order RFC 2782 ("Usage rules") says to try
// them: ascending priority; within one priority, repeated weighted random
// selection.
//
// Within a priority the records are first put in a fixed order (weight-0
// records first, as RFC 2782 asks, then by target and port), so that the
// only source of variation is the random draw (RFC 3263 §4.4 wants a
// deterministic base order). Then, as RFC 2782 describes, a running sum of
// the weights is associated with each remaining record, a number is drawn
// uniformly from [0, sum] and the first record whose running sum is >= the
// number is selected and removed. A weight-0 record therefore has a running
// sum of 0 and is picked only when the draw is 0, which is the "very small
// chance" RFC 2782 gives it. When no weight-0 record remains the draw is
// taken from [1, sum] instead, which removes the bias of the inclusive range
// toward the first record and makes selection exactly proportional to
// weight.
func (r *Resolver) orderSRV(srvs []*dns.SRV) []*dns.SRV {
	in := slices.Clone(srvs)
	slices.SortStableFunc(in, func(a, b *dns.SRV) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		if az, bz := a.Weight == 0, b.Weight == 0; az != bz {
			if az {
				return -1
			}
			return 1
		}
		if c := strings.Compare(dns.CanonicalName(a.Target), dns.CanonicalName(b.Target)); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	out := make([]*dns.SRV, 0, len(in))
	for len(in) > 0 {
		// The group of equal priority at the front of in.
		n := 1
		for n < len(in) && in[n].Priority == in[0].Priority {
			n++
		}
		group := in[:n]
		for len(group) > 0 {
			i := r.pickWeighted(group)
			out = append(out, group[i])
			group = slices.Delete(group, i, i+1)
		}
		in = in[n:]
	}
	return out
}

// pickWeighted returns the index of the record selected from group by the
// RFC 2782 weighted draw. group has weight-0 records first.
func (r *Resolver) pickWeighted(group []*dns.SRV) int {
	sum := 0
	for _, s := range group {
		sum += int(s.Weight)
	}
	if sum == 0 {
		return 0 // all weights zero: keep the base order
	}
	var x int
	if group[0].Weight == 0 {
		x = r.intN(sum + 1) // [0, sum]
	} else {
		x = 1 + r.intN(sum) // [1, sum]
	}
	run := 0
	for i, s := range group {
		run += int(s.Weight)
		if run >= x {
			return i
		}
	}
	return len(group) - 1 // not reached
}

func (r *Resolver) intN(n int) int {
	if r.randN != nil {
		return r.randN(n)
	}
	return rand.IntN(n)
}
