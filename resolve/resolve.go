package resolve

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/parleysip/parley/transport"
)

// maxSRVTargets bounds how many SRV records of one set are resolved to
// addresses.
const maxSRVTargets = 32

// Query describes the SIP or SIPS URI (RFC 3261 §19.1) to resolve. It
// carries only the parts RFC 3263 §4 uses.
type Query struct {
	// Host is the host part of the URI: a domain name, an IPv4 literal or
	// an IPv6 literal (with or without the brackets of the URI syntax).
	Host string
	// Port is the URI's port; 0 means the URI has none.
	Port uint16
	// Transport is the value of the transport URI parameter; Unknown means
	// the URI has none.
	Transport transport.Network
	// Secure is true for a sips URI: only TLS (or WSS) may be used
	// (RFC 3261 §19.1, RFC 3263 §4.1).
	Secure bool
	// MAddr is the maddr URI parameter. When set it replaces Host as the
	// TARGET to resolve (RFC 3263 §4, RFC 3261 §19.1.1).
	MAddr string
}

// Target is one place a request may be sent: a transport and an address.
type Target struct {
	// Network is the transport to use.
	Network transport.Network
	// Addr is the IP address and port to send to.
	Addr netip.AddrPort
	// Host is the TARGET the URI named (maddr, or the URI host), without a
	// trailing dot: the identity to put in TLS SNI and to check the server
	// certificate against (RFC 5922 §4, RFC 3263 §4.1).
	Host string
	// Name is the DNS name whose A or AAAA record gave Addr (for example an
	// SRV target), without a trailing dot; it equals Host when no NAPTR or
	// SRV record was used, and is empty for a numeric host.
	Name string
	// TTL is how long the DNS records that led to this target remain valid:
	// the smallest remaining TTL along the NAPTR, SRV and A/AAAA chain. It is
	// zero for a numeric host, which never expires.
	TTL time.Duration
}

// String formats t as "TLS [2001:db8::1]:5061 (host)".
func (t Target) String() string {
	s := t.Network.String() + " " + t.Addr.String()
	if t.Host != "" {
		s += " (" + t.Host + ")"
	}
	return s
}

// Resolver implements RFC 3263 server location with a DNS client.
//
// The zero value is ready to use: it asks the servers of /etc/resolv.conf,
// with a 2 s timeout per query, supports UDP, TCP and TLS, and caches answers
// in a private [Cache] of [DefaultCacheSize] entries. A Resolver is safe for
// concurrent use; it must not be copied after first use, and its fields must
// not be changed while lookups are running.
type Resolver struct {
	// Servers lists the DNS servers to ask, in order, as "host:port"
	// ("127.0.0.1:5353", "[::1]:53"; a missing port means 53). Empty means
	// the nameservers of /etc/resolv.conf. Names are always queried as
	// fully qualified: the resolv.conf search list is not applied.
	Servers []string

	// Timeout bounds each DNS query to one server (DefaultTimeout if zero).
	// A server that does not answer in time is skipped for the next one.
	Timeout time.Duration

	// Transports lists the transports the client supports, most preferred
	// first. It filters NAPTR services (RFC 3263 §4.1: a client MUST discard
	// services for transports it does not support) and orders the SRV
	// queries made when the domain has no NAPTR records. Nil means UDP, TCP,
	// TLS. A transport given explicitly in the Query is used whether or not
	// it is listed here.
	Transports []transport.Network

	// PreferIPv6 puts the AAAA addresses of a name before its A addresses.
	// By default IPv4 addresses come first. Both are always queried and
	// returned.
	PreferIPv6 bool

	// Cache holds DNS answers between lookups. Nil means a private cache of
	// DefaultCacheSize entries, made on first use. Several Resolvers may
	// share one Cache.
	Cache *Cache

	// NoCache disables caching: every lookup asks DNS.
	NoCache bool

	cacheOnce sync.Once
	cacheP    *Cache

	randN func(n int) int // random source for SRV weights; nil = math/rand/v2
}

var defaultTransports = []transport.Network{transport.UDP, transport.TCP, transport.TLS}

func (r *Resolver) transports() []transport.Network {
	if len(r.Transports) > 0 {
		return r.Transports
	}
	return defaultTransports
}

func (r *Resolver) supports(n transport.Network) bool {
	return slices.Contains(r.transports(), n)
}

func (r *Resolver) cache() *Cache {
	if r.NoCache {
		return nil
	}
	if r.Cache != nil {
		return r.Cache
	}
	r.cacheOnce.Do(func() { r.cacheP = NewCache(DefaultCacheSize) })
	return r.cacheP
}

// defaultNetwork is the transport used when neither the URI nor DNS chose
// one: UDP for sip and TLS (TLS over TCP) for sips (RFC 3263 §4.1, §4.2;
// RFC 3261 §19.1.2 and §26.2.2). If the client does not support that one,
// another supported transport is used, as §4.1 allows ("another transport
// ... MAY be used").
func (r *Resolver) defaultNetwork(secure bool) transport.Network {
	prefs := []transport.Network{transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS}
	if secure {
		prefs = []transport.Network{transport.TLS, transport.WSS}
	}
	for _, n := range prefs {
		if r.supports(n) {
			return n
		}
	}
	return prefs[0]
}

// effectiveNetwork applies the sips scheme to an explicit transport
// parameter: over TCP that means TLS, over WebSocket WSS (RFC 3261 §26.2.2,
// RFC 7118 §5); UDP and SCTP cannot carry sips.
func effectiveNetwork(n transport.Network, secure bool) (transport.Network, error) {
	if !secure {
		return n, nil
	}
	switch n {
	case transport.Unknown:
		return n, nil
	case transport.TCP, transport.TLS:
		return transport.TLS, nil
	case transport.WS, transport.WSS:
		return transport.WSS, nil
	}
	return transport.Unknown, fmt.Errorf("%w: sips over %s", ErrUnsupportedTransport, n)
}

// srvPrefix is the SRV owner-name prefix for a transport: "_sips" for TLS
// (RFC 3263 §4.2: "_sips" for SIPS URIs and for a SIP URI that wants TLS),
// "_sip" otherwise; TLS runs over "_tcp" and WebSocket uses "_ws"
// (RFC 7118 §5).
func srvPrefix(n transport.Network) string {
	switch n {
	case transport.UDP:
		return "_sip._udp."
	case transport.TCP:
		return "_sip._tcp."
	case transport.TLS:
		return "_sips._tcp."
	case transport.SCTP:
		return "_sip._sctp."
	case transport.WS:
		return "_sip._ws."
	case transport.WSS:
		return "_sips._ws."
	}
	return ""
}

// naptrServices maps RFC 3263 §4.1 and RFC 7118 §10.2 NAPTR service values to
// transports. "SIPS+D2U" (TLS over UDP) and "SIPS+D2S" (TLS over SCTP) have
// no transport here and are discarded.
var naptrServices = map[string]transport.Network{
	"SIP+D2U":  transport.UDP,
	"SIP+D2T":  transport.TCP,
	"SIPS+D2T": transport.TLS,
	"SIP+D2S":  transport.SCTP,
	"SIP+D2W":  transport.WS,
	"SIPS+D2W": transport.WSS,
}

// hostTarget strips URI brackets and a trailing dot.
func hostTarget(h string) string {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(h, ".")
}

// parseTarget classifies a TARGET as an IP literal or a domain name.
func parseTarget(h string) (ip netip.Addr, name string, err error) {
	if h == "" {
		return netip.Addr{}, "", fmt.Errorf("%w: empty host", ErrInvalidQuery)
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap(), "", nil
	}
	if _, ok := dns.IsDomainName(h); !ok || strings.ContainsAny(h, " \t\r\n[]:/@") {
		return netip.Addr{}, "", fmt.Errorf("%w: bad host %q", ErrInvalidQuery, h)
	}
	return netip.Addr{}, dns.CanonicalName(h), nil
}

// Lookup resolves a SIP or SIPS URI to the ordered list of targets to try,
// following RFC 3263 §4.1 (transport) and §4.2 (port and address):
//
//   - A numeric TARGET is used as is, with the URI's port or the
//     transport's default port; the transport is the URI's, else UDP for
//     sip and TLS for sips.
//   - A domain name with a port is resolved with A and AAAA queries only.
//   - A domain name with a transport but no port is resolved with an SRV
//     query for that transport, falling back to A/AAAA on the default port.
//   - Otherwise NAPTR records select the transport and the SRV name; without
//     usable NAPTR records the SRV names of every supported transport are
//     queried, in the order of Resolver.Transports; without SRV records the
//     A/AAAA records of the name are used with UDP (sip) or TLS (sips) on
//     the default port.
//
// Callers try the targets in order, moving to the next on a transport error,
// a 503 response or a timeout (RFC 3263 §4.3); [Failover] helps with that.
// The resolution MUST be done once per transaction (§4): retransmissions,
// the ACK for a non-2xx response and a CANCEL go to the target that was
// used.
//
// When nothing is found the error wraps [ErrNotFound] (usually inside a
// [*DNSError] with the response code); errors of the DNS exchange itself
// (timeouts, SERVFAIL) are returned in preference, as trying later may help.
// Canceling ctx aborts queries in flight and returns an error wrapping
// ctx.Err().
func (r *Resolver) Lookup(ctx context.Context, q Query) ([]Target, error) {
	raw := q.MAddr // RFC 3263 §4: TARGET is maddr if present, else the host.
	if raw == "" {
		raw = q.Host
	}
	host := hostTarget(raw)
	ip, name, err := parseTarget(host)
	if err != nil {
		return nil, err
	}
	netw, err := effectiveNetwork(q.Transport, q.Secure)
	if err != nil {
		return nil, err
	}
	if q.Secure && netw == transport.Unknown && !r.supports(transport.TLS) && !r.supports(transport.WSS) {
		return nil, fmt.Errorf("%w: sips URI but no secure transport in Resolver.Transports", ErrUnsupportedTransport)
	}
	label := strings.ToLower(host)

	if ip.IsValid() {
		// §4.1: numeric TARGET, no transport: UDP for sip, TLS for sips.
		// §4.2: "If TARGET is a numeric IP address, the client uses that
		// address", with the URI's port or the transport's default.
		if netw == transport.Unknown {
			netw = r.defaultNetwork(q.Secure)
		}
		port := q.Port
		if port == 0 {
			port = netw.DefaultPort()
		}
		return []Target{{Network: netw, Addr: netip.AddrPortFrom(ip, port), Host: label}}, nil
	}

	if q.Port != 0 {
		// §4.1: a port but no transport: UDP for sip, TLS for sips.
		// §4.2: name with explicit port: A/AAAA lookup only, no NAPTR/SRV.
		if netw == transport.Unknown {
			netw = r.defaultNetwork(q.Secure)
		}
		return r.addrTargets(ctx, name, netw, q.Port, label, nil)
	}

	if netw != transport.Unknown {
		// §4.2: transport given explicitly, no port: SRV query for that
		// transport ("_sips" for TLS), then A/AAAA on the default port.
		ts, serr := r.srvTargets(ctx, srvPrefix(netw)+name, netw, label)
		if len(ts) > 0 {
			return ts, nil
		}
		if stop(ctx, serr) {
			return nil, serr
		}
		ts, aerr := r.addrTargets(ctx, name, netw, netw.DefaultPort(), label, nil)
		if len(ts) > 0 {
			return ts, nil
		}
		return nil, pickErr(aerr, serr)
	}

	// §4.1: no transport, no port, domain name: NAPTR.
	var errs []error
	nset, nerr := r.query(ctx, name, dns.TypeNAPTR)
	if ctx.Err() != nil {
		return nil, nerr
	}
	if isNXDomain(nerr) {
		// The domain does not exist, so neither do the SRV names below it
		// nor its addresses (RFC 8020 §2).
		return nil, nerr
	}
	errs = append(errs, nerr)
	if nset != nil {
		ts, err := r.naptrTargets(ctx, nset, q.Secure, label)
		if len(ts) > 0 {
			return ts, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}

	// §4.1: "If no NAPTR records are found, the client constructs SRV
	// queries for those transport protocols it supports, and does a query
	// for each", "_sips" for a SIPS URI. All found are returned, in the
	// client's order of preference.
	var nets []transport.Network
	for _, n := range r.transports() {
		if (q.Secure && !n.Secure()) || srvPrefix(n) == "" || slices.Contains(nets, n) {
			continue // §4.1: SIPS URI MUST use "_sips" (TLS/WSS) only
		}
		nets = append(nets, n)
	}
	results := make([][]Target, len(nets))
	serrs := make([]error, len(nets))
	parallel(len(nets), func(i int) {
		results[i], serrs[i] = r.srvTargets(ctx, srvPrefix(nets[i])+name, nets[i], label)
	})
	if ctx.Err() != nil {
		return nil, &DNSError{Name: name, Type: "SRV", Rcode: -1, Err: ctx.Err()}
	}
	var all []Target
	for _, ts := range results {
		all = append(all, ts...)
	}
	if len(all) > 0 {
		return dedupe(all), nil
	}
	errs = append(errs, serrs...)
	for _, err := range serrs {
		if errorsIsNotOffered(err) {
			// The domain publishes SRV records, and they say no: RFC 2782
			// forbids falling back to its address records.
			return nil, err
		}
	}

	// §4.1, §4.2: no SRV records: UDP for sip, TLS for sips, A/AAAA on the
	// default port.
	netw = r.defaultNetwork(q.Secure)
	ts, aerr := r.addrTargets(ctx, name, netw, netw.DefaultPort(), label, nil)
	if len(ts) > 0 {
		return ts, nil
	}
	return nil, pickErr(append([]error{aerr}, errs...)...)
}

// naptrRec is a NAPTR record that passed the RFC 3263 §4.1 filters.
type naptrRec struct {
	rr   *dns.NAPTR
	netw transport.Network
}

// naptrTargets turns a NAPTR set into targets: it discards the records a
// client must ignore, orders the rest by order then preference (RFC 3403
// §4.1), and resolves the records of the first order value that yields a
// target, all preferences of that order in sequence.
func (r *Resolver) naptrTargets(ctx context.Context, set *rrset, secure bool, label string) ([]Target, error) {
	var recs []naptrRec
	for _, rr := range set.rrs {
		n, ok := rr.(*dns.NAPTR)
		if !ok {
			continue
		}
		svc := strings.ToUpper(n.Service)
		netw, known := naptrServices[svc]
		switch {
		case !known:
			continue // RFC 3263 §4.1 / RFC 3403: discard services that do not apply
		case secure && !strings.HasPrefix(svc, "SIPS+"):
			continue // §4.1: a client resolving a SIPS URI MUST discard non-SIPS services
		case !r.supports(netw):
			continue // §4.1: MUST discard D2X for transports the client does not support
		case n.Regexp != "":
			continue // §4.1: SIP NAPTR records have an empty regexp; rewriting is not defined
		}
		switch strings.ToLower(n.Flags) {
		case "s", "a": // terminal: SRV lookup (§4.1) or address lookup (RFC 3403 §4.1)
		default:
			continue
		}
		if n.Replacement == "" || n.Replacement == "." {
			continue
		}
		recs = append(recs, naptrRec{n, netw})
	}
	slices.SortStableFunc(recs, func(a, b naptrRec) int {
		if c := cmp.Compare(a.rr.Order, b.rr.Order); c != 0 {
			return c
		}
		return cmp.Compare(a.rr.Preference, b.rr.Preference)
	})

	var errs []error
	for len(recs) > 0 {
		n := 1
		for n < len(recs) && recs[n].rr.Order == recs[0].rr.Order {
			n++
		}
		// RFC 3403 §4.1: once a record of some order matched, records with
		// a different order MUST NOT be considered; the preferences within
		// that order are tried in turn. A record whose SRV/A lookup yields
		// nothing is not a usable match, so then the next order is tried.
		var all []Target
		for _, rec := range recs[:n] {
			repl := dns.CanonicalName(rec.rr.Replacement)
			var ts []Target
			var err error
			if strings.EqualFold(rec.rr.Flags, "s") {
				ts, err = r.srvTargets(ctx, repl, rec.netw, label)
			} else {
				ts, err = r.addrTargets(ctx, repl, rec.netw, rec.netw.DefaultPort(), label, nil)
			}
			if ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			all = append(all, ts...)
		}
		if len(all) > 0 {
			capTTL(all, set.ttl)
			return dedupe(all), nil
		}
		recs = recs[n:]
	}
	if err := pickErr(errs...); err != nil {
		return nil, err
	}
	return nil, nil
}

// srvTargets queries the SRV records at name and resolves them, in RFC 2782
// order, to targets on transport netw.
func (r *Resolver) srvTargets(ctx context.Context, name string, netw transport.Network, label string) ([]Target, error) {
	set, err := r.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var srvs []*dns.SRV
	for _, rr := range set.rrs {
		if s, ok := rr.(*dns.SRV); ok {
			srvs = append(srvs, s)
		}
	}
	if len(srvs) == 1 && srvs[0].Target == "." {
		// RFC 2782: a single "." target: service decidedly not available.
		return nil, &DNSError{Name: name, Type: "SRV", Rcode: dns.RcodeSuccess, Err: errNotOffered}
	}
	srvs = slices.DeleteFunc(srvs, func(s *dns.SRV) bool { return s.Target == "." })
	srvs = r.orderSRV(srvs)
	if len(srvs) > maxSRVTargets {
		srvs = srvs[:maxSRVTargets]
	}

	results := make([][]Target, len(srvs))
	errs := make([]error, len(srvs))
	parallel(len(srvs), func(i int) {
		results[i], errs[i] = r.addrTargets(ctx, dns.CanonicalName(srvs[i].Target), netw, srvs[i].Port, label, set.extra)
	})
	if err := ctx.Err(); err != nil {
		return nil, &DNSError{Name: name, Type: "SRV", Rcode: -1, Err: err}
	}
	var all []Target
	for _, ts := range results {
		all = append(all, ts...)
	}
	if len(all) == 0 {
		return nil, pickErr(errs...)
	}
	capTTL(all, set.ttl)
	return dedupe(all), nil
}

// addrTargets resolves name with A and AAAA queries (or from hints, the
// additional section of an SRV answer) to targets at port on netw.
func (r *Resolver) addrTargets(ctx context.Context, name string, netw transport.Network, port uint16, label string, hints []dns.RR) ([]Target, error) {
	addrs, ttl, err := r.addresses(ctx, name, hints)
	if len(addrs) == 0 {
		return nil, err
	}
	owner := strings.TrimSuffix(name, ".")
	ts := make([]Target, len(addrs))
	for i, a := range addrs {
		ts[i] = Target{Network: netw, Addr: netip.AddrPortFrom(a, port), Host: label, Name: owner, TTL: ttl}
	}
	return dedupe(ts), nil
}

// addresses returns the IPv4 and IPv6 addresses of name, IPv4 first unless
// PreferIPv6, and the smallest remaining TTL. Address records for name in
// hints are used instead of querying (RFC 2782 "Usage rules").
func (r *Resolver) addresses(ctx context.Context, name string, hints []dns.RR) ([]netip.Addr, time.Duration, error) {
	var v4, v6 []netip.Addr
	ttl := maxPositiveTTL
	add := func(rrs []dns.RR) {
		for _, rr := range rrs {
			a, ok := addrOf(rr)
			if !ok {
				continue
			}
			if a.Is4() || a.Is4In6() {
				v4 = append(v4, a.Unmap())
			} else {
				v6 = append(v6, a)
			}
		}
	}
	var hinted []dns.RR
	for _, rr := range hints {
		if strings.EqualFold(rr.Header().Name, name) {
			hinted = append(hinted, rr)
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	}
	var err error
	if len(hinted) > 0 {
		add(hinted)
	} else {
		var sets [2]*rrset
		var errs [2]error
		qtypes := [2]uint16{dns.TypeA, dns.TypeAAAA}
		parallel(2, func(i int) { sets[i], errs[i] = r.query(ctx, name, qtypes[i]) })
		for _, s := range sets {
			if s != nil {
				add(s.rrs)
				ttl = min(ttl, s.ttl)
			}
		}
		err = pickErr(errs[:]...)
		if cerr := ctx.Err(); cerr != nil {
			return nil, 0, &DNSError{Name: name, Type: "A/AAAA", Rcode: -1, Err: cerr}
		}
	}
	out := v4
	if r.PreferIPv6 {
		out = append(v6, v4...)
	} else {
		out = append(v4, v6...)
	}
	if len(out) == 0 {
		if err == nil {
			err = &DNSError{Name: name, Type: "A/AAAA", Rcode: dns.RcodeSuccess, Err: ErrNotFound}
		}
		return nil, 0, err
	}
	return out, ttl, nil
}

// LookupResponse resolves the sent-by of a topmost Via for sending a
// response after the connection or address it would normally go to failed
// (RFC 3263 §5, RFC 3261 §18.2.2):
//
//   - a numeric host is used with the given port, else the transport's
//     default port;
//   - a domain name with a port is resolved with A and AAAA queries;
//   - a domain name without a port is resolved with an SRV query for the
//     Via transport, "_sips" if that is TLS, "_sip" otherwise (and for WSS,
//     "_sips._ws", RFC 7118), sorted per RFC 2782; without SRV records the
//     A/AAAA records are used with the default port.
//
// network is the Via transport and is kept as is: "TLS" in a Via means TLS
// over TCP, and the response MUST then be sent over TLS (RFC 3263 §5).
func (r *Resolver) LookupResponse(ctx context.Context, host string, port uint16, network transport.Network) ([]Target, error) {
	if network == transport.Unknown {
		return nil, fmt.Errorf("%w: no Via transport", ErrInvalidQuery)
	}
	h := hostTarget(host)
	ip, name, err := parseTarget(h)
	if err != nil {
		return nil, err
	}
	label := strings.ToLower(h)
	if ip.IsValid() {
		if port == 0 {
			port = network.DefaultPort()
		}
		return []Target{{Network: network, Addr: netip.AddrPortFrom(ip, port), Host: label}}, nil
	}
	if port != 0 {
		return r.addrTargets(ctx, name, network, port, label, nil)
	}
	ts, serr := r.srvTargets(ctx, srvPrefix(network)+name, network, label)
	if len(ts) > 0 {
		return ts, nil
	}
	if stop(ctx, serr) {
		return nil, serr
	}
	ts, aerr := r.addrTargets(ctx, name, network, network.DefaultPort(), label, nil)
	if len(ts) > 0 {
		return ts, nil
	}
	return nil, pickErr(aerr, serr)
}

// stop reports whether resolution must end now: the context is done, or
// the SRV set said the service is not offered at all.
func stop(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	return err != nil && errorsIsNotOffered(err)
}

func errorsIsNotOffered(err error) bool {
	de, ok := err.(*DNSError)
	return ok && de.Err == errNotOffered
}

// capTTL lowers each target's TTL to at most ttl.
func capTTL(ts []Target, ttl time.Duration) {
	for i := range ts {
		ts[i].TTL = min(ts[i].TTL, ttl)
	}
}

// dedupe drops repeated (network, address) pairs, keeping the first.
func dedupe(ts []Target) []Target {
	type key struct {
		n transport.Network
		a netip.AddrPort
	}
	seen := make(map[key]bool, len(ts))
	out := ts[:0]
	for _, t := range ts {
		k := key{t.Network, t.Addr}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
	}
	return out
}

// parallel runs f(0..n-1) concurrently and waits for all of them.
func parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
