package proxy

import (
	"context"
	"strings"

	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// LocationRouter returns a [Router] backed by a location service (§16.5:
// "If the domain of the Request-URI indicates a domain this element is
// responsible for, the Request-URI MUST be placed into the target set ...
// [via] a location service"). For a sip or sips Request-URI whose host is
// one of domains, the targets are the live bindings of its address-of-record
// (location.CanonicalAoR), each with its q, its Path as route set and, for
// an RFC 5626 outbound binding reached without Path, its flow as Dest. An
// AoR without bindings is answered 404 Not Found (§21.4.5: the location
// service has no such user; Kamailio's lookup() failure answers the same),
// one answer for unknown users and for users that are not registered, so
// that users cannot be enumerated. Any other Request-URI
// is the only target ("If the domain of the Request-URI indicates a domain
// this element is not responsible for, the Request-URI MUST be placed into
// the target set as the only target"); whether such requests are allowed
// (no open relay) is the server's policy.
func LocationRouter(store location.Store, domains []string) Router {
	return &Location{Store: store, Domains: domains}
}

// Location is the [Router] of [LocationRouter], with GRUU routing as an
// option.
type Location struct {
	// Store holds the bindings.
	Store location.Store
	// Domains are the domains whose Request-URIs are looked up.
	Domains []string
	// GRUU, if set, routes requests for the GRUUs it made (RFC 5627 §6.1):
	// to the most recently refreshed contact of the GRUU's instance only;
	// 480 when the instance has no contact, 404 for a GRUU that is not (or
	// no longer) valid.
	GRUU *location.GRUUs
}

func (r *Location) local(host string) bool {
	for _, d := range r.Domains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	return false
}

// Targets implements [Router].
func (r *Location) Targets(ctx context.Context, req *sip.Request) ([]Target, sip.StatusCode, error) {
	u := req.URI
	if !u.IsSIP() || !r.local(u.Host) {
		return []Target{{URI: u, Q: 1000}}, 0, nil
	}
	if r.GRUU != nil && location.IsGRUU(&u) {
		return r.gruuTargets(ctx, u)
	}
	aor, err := location.CanonicalAoR(u)
	if err != nil {
		return nil, sip.StatusNotFound, nil
	}
	rec, err := r.Store.Get(ctx, aor)
	if err != nil {
		return nil, 0, err
	}
	if len(rec.Bindings) == 0 {
		return nil, sip.StatusNotFound, nil
	}
	ts := make([]Target, 0, len(rec.Bindings))
	for i := range rec.Bindings {
		ts = append(ts, target(&rec.Bindings[i]))
	}
	return ts, 0, nil
}

// gruuTargets is RFC 5627 §6.1: "If the Request-URI contains the "gr" URI
// parameter but is not equivalent ... to a currently valid GRUU within the
// domain, it SHOULD be rejected with a 404 (Not Found) response"; "If
// there are no registered contacts bound to the GRUU, the server MUST
// return a 480"; with several, "The proxy MUST select the most recently
// refreshed contact" (the Request-URI becomes that contact, without "gr").
func (r *Location) gruuTargets(ctx context.Context, u sip.URI) ([]Target, sip.StatusCode, error) {
	ref, ok := r.GRUU.Resolve(u)
	if !ok {
		return nil, sip.StatusNotFound, nil
	}
	rec, err := r.Store.Get(ctx, ref.AoR)
	if err != nil {
		return nil, 0, err
	}
	bs, valid := ref.Bindings(rec)
	switch {
	case !valid:
		return nil, sip.StatusNotFound, nil
	case len(bs) == 0:
		return nil, sip.StatusTemporarilyUnavailable, nil
	}
	t := target(&bs[0])
	t.Q = 1000
	return []Target{t}, 0, nil
}

// target is the target of binding b: its contact, q, Path as route set and,
// for an RFC 5626 outbound binding reached without Path, its flow.
func target(b *location.Binding) Target {
	t := Target{URI: b.Contact.URI, Q: b.Q}
	for _, p := range b.Path {
		t.Path = append(t.Path, parseRoutes(p)...)
	}
	if len(t.Path) == 0 && b.Outbound() && !b.Flow.IsZero() {
		// RFC 5626 §5.3: reach the UA over the flow it registered on.
		t.Dest = &transport.Dest{Network: b.Flow.Network, Addr: b.Flow.Remote, Flow: b.Flow}
	}
	return t
}

// parseRoutes parses a Path value ("<sip:edge;lr>", possibly a list) into
// name-addrs.
func parseRoutes(v string) []sip.NameAddr {
	var h sip.Header
	if err := h.Add(string(sip.HeaderRoute), v); err != nil {
		return nil
	}
	return h.Routes()
}
