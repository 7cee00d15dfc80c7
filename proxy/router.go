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
	return &locationRouter{store: store, domains: domains}
}

type locationRouter struct {
	store   location.Store
	domains []string
}

func (r *locationRouter) local(host string) bool {
	for _, d := range r.domains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	return false
}

func (r *locationRouter) Targets(ctx context.Context, req *sip.Request) ([]Target, sip.StatusCode, error) {
	u := req.URI
	if !u.IsSIP() || !r.local(u.Host) {
		return []Target{{URI: u, Q: 1000}}, 0, nil
	}
	aor, err := location.CanonicalAoR(u)
	if err != nil {
		return nil, sip.StatusNotFound, nil
	}
	rec, err := r.store.Get(ctx, aor)
	if err != nil {
		return nil, 0, err
	}
	if len(rec.Bindings) == 0 {
		return nil, sip.StatusNotFound, nil
	}
	ts := make([]Target, 0, len(rec.Bindings))
	for _, b := range rec.Bindings {
		t := Target{URI: b.Contact.URI, Q: b.Q}
		for _, p := range b.Path {
			t.Path = append(t.Path, parseRoutes(p)...)
		}
		if len(t.Path) == 0 && b.Outbound() && !b.Flow.IsZero() {
			// RFC 5626 §5.3: reach the UA over the flow it registered on.
			t.Dest = &transport.Dest{Network: b.Flow.Network, Addr: b.Flow.Remote, Flow: b.Flow}
		}
		ts = append(ts, t)
	}
	return ts, 0, nil
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
