package resolve

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one DNS query to one server when Resolver.Timeout is
// zero.
const DefaultTimeout = 2 * time.Second

// resolvConf is where the system's DNS servers are read from.
const resolvConf = "/etc/resolv.conf"

// ednsSize is the UDP payload size advertised with EDNS(0) (RFC 6891); 1232
// avoids IP fragmentation on any path (DNS flag day 2020).
const ednsSize = 1232

// maxCNAMEChain bounds how many CNAME hops are followed for one query.
const maxCNAMEChain = 8

// rrset is the usable part of an answer: records of the asked type for the
// name (after following CNAMEs), address hints from the additional section,
// and how long they stay valid.
type rrset struct {
	rrs   []dns.RR
	extra []dns.RR
	ttl   time.Duration
}

// system servers, read once per process.
var (
	sysOnce    sync.Once
	sysServers []string
)

func systemServers() []string {
	sysOnce.Do(func() {
		conf, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return
		}
		port := conf.Port
		if port == "" {
			port = "53"
		}
		for _, s := range conf.Servers {
			sysServers = append(sysServers, net.JoinHostPort(s, port))
		}
	})
	return sysServers
}

// normServer turns "1.2.3.4", "::1", "[::1]" or "host:port" into host:port.
func normServer(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return net.JoinHostPort(s, "53")
}

func (r *Resolver) servers() ([]string, error) {
	if len(r.Servers) > 0 {
		out := make([]string, len(r.Servers))
		for i, s := range r.Servers {
			out[i] = normServer(s)
		}
		return out, nil
	}
	if s := systemServers(); len(s) > 0 {
		return s, nil
	}
	return nil, ErrNoServers
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// isLocalhost reports whether name is "localhost." or below it. RFC 6761
// §6.3: resolvers SHOULD answer address queries for such names with the
// loopback address themselves, without asking DNS.
func isLocalhost(name string) bool {
	return name == "localhost." || strings.HasSuffix(name, ".localhost.")
}

func localhostSet(name string, qtype uint16) (*rrset, error) {
	hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET}
	switch qtype {
	case dns.TypeA:
		return &rrset{rrs: []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)}}, ttl: maxPositiveTTL}, nil
	case dns.TypeAAAA:
		return &rrset{rrs: []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IPv6loopback}}, ttl: maxPositiveTTL}, nil
	}
	return nil, &DNSError{Name: name, Type: dns.TypeToString[qtype], Rcode: dns.RcodeSuccess, Err: ErrNotFound}
}

// query returns the records of type qtype for name, from the cache when it
// holds a live answer, else from DNS (and then caches the answer). A negative
// answer is returned as a *DNSError wrapping ErrNotFound.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*rrset, error) {
	name = dns.CanonicalName(name)
	if isLocalhost(name) {
		return localhostSet(name, qtype)
	}
	key := cacheKey{name, qtype}
	c := r.cache()
	if c != nil {
		if e, left, ok := c.get(key); ok {
			if e.neg {
				return nil, &DNSError{Name: name, Type: dns.TypeToString[qtype], Rcode: e.rcode, Err: ErrNotFound}
			}
			return &rrset{rrs: e.rrs, extra: e.extra, ttl: left}, nil
		}
	}
	set, negTTL, err := r.resolveName(ctx, name, qtype, 0)
	if c != nil {
		switch {
		case err == nil:
			c.put(&cacheEntry{key: key, rrs: set.rrs, extra: set.extra}, set.ttl)
		case isNotFound(err):
			var rc int
			if de, ok := err.(*DNSError); ok {
				rc = de.Rcode
			}
			c.put(&cacheEntry{key: key, neg: true, rcode: rc}, negTTL)
		}
	}
	return set, err
}

// resolveName asks DNS for (name, qtype), following a CNAME chain the
// server did not finish. For a negative answer it also returns the negative
// caching TTL.
func (r *Resolver) resolveName(ctx context.Context, name string, qtype uint16, depth int) (*rrset, time.Duration, error) {
	tname := dns.TypeToString[qtype]
	resp, server, err := r.exchange(ctx, name, qtype)
	if err != nil {
		return nil, 0, err
	}
	if resp.Rcode == dns.RcodeNameError {
		return nil, negativeTTL(resp), &DNSError{Name: name, Type: tname, Server: server, Rcode: resp.Rcode, Err: ErrNotFound}
	}

	// Follow the CNAME chain inside the answer section.
	ttl := maxPositiveTTL
	cur := name
	var rrs []dns.RR
	for hop := 0; ; hop++ {
		var cname string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && cname == "" {
				cname = dns.CanonicalName(c.Target)
				ttl = min(ttl, time.Duration(h.Ttl)*time.Second)
			}
		}
		if len(rrs) > 0 || cname == "" || hop >= maxCNAMEChain {
			break
		}
		cur = cname
	}
	if len(rrs) == 0 {
		if cur != name && depth < maxCNAMEChain {
			// The server stopped at a CNAME: ask for its target ourselves.
			set, neg, err := r.resolveName(ctx, cur, qtype, depth+1)
			if err != nil {
				return nil, min(neg, ttl), err
			}
			set.ttl = min(set.ttl, ttl)
			return set, 0, nil
		}
		return nil, negativeTTL(resp), &DNSError{Name: name, Type: tname, Server: server, Rcode: resp.Rcode, Err: ErrNotFound}
	}
	for _, rr := range rrs {
		ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
	}
	set := &rrset{rrs: rrs, ttl: ttl}
	if qtype == dns.TypeSRV {
		set.extra = srvHints(rrs, resp.Extra)
		for _, rr := range set.extra {
			set.ttl = min(set.ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	}
	return set, 0, nil
}

// srvHints keeps the additional-section A/AAAA records that belong to one of
// the SRV targets (RFC 2782 "Usage rules": clients may use them instead of
// querying). Records for other names are ignored: they were not asked for.
func srvHints(srvs, extra []dns.RR) []dns.RR {
	targets := make(map[string]bool, len(srvs))
	for _, rr := range srvs {
		targets[dns.CanonicalName(rr.(*dns.SRV).Target)] = true
	}
	var out []dns.RR
	for _, rr := range extra {
		h := rr.Header()
		if (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) && h.Class == dns.ClassINET && targets[dns.CanonicalName(h.Name)] {
			out = append(out, rr)
		}
	}
	return out
}

// negativeTTL derives how long a negative answer may be cached: the smaller
// of the SOA record's TTL and its MINIMUM field (RFC 2308 §5), capped.
func negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			return min(ttl, maxNegativeTTL)
		}
	}
	return defaultNegativeTTL
}

// exchange sends one question to the configured servers in turn until one
// answers NOERROR or NXDOMAIN. A truncated UDP answer is retried over TCP
// (RFC 7766 §5).
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	tname := dns.TypeToString[qtype]
	servers, err := r.servers()
	if err != nil {
		return nil, "", err
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsSize, false)

	var lastErr error
	for _, s := range servers {
		if err := ctx.Err(); err != nil {
			return nil, "", &DNSError{Name: name, Type: tname, Rcode: -1, Err: err}
		}
		resp, err := r.exchangeOne(ctx, m, s, "udp")
		if err == nil && resp.Truncated {
			resp, err = r.exchangeOne(ctx, m, s, "tcp")
		}
		if err != nil {
			if cerr := ctxErr(ctx); cerr != nil {
				return nil, "", &DNSError{Name: name, Type: tname, Server: s, Rcode: -1, Err: cerr}
			}
			lastErr = &DNSError{Name: name, Type: tname, Server: s, Rcode: -1, Err: err}
			continue
		}
		if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, name) || resp.Question[0].Qtype != qtype {
			lastErr = &DNSError{Name: name, Type: tname, Server: s, Rcode: resp.Rcode, Err: errMismatch}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return resp, s, nil
		}
		lastErr = &DNSError{Name: name, Type: tname, Server: s, Rcode: resp.Rcode}
	}
	return nil, "", lastErr
}

// ctxErr is ctx.Err(), also reporting DeadlineExceeded when the deadline
// has passed but the context's timer has not fired yet: a read deadline set
// from it may expire first.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errMismatch = constError("answer does not match the question")

// exchangeOne performs one query to one server over network ("udp" or
// "tcp"), bounded by the per-query timeout. Canceling ctx closes the socket,
// so a query in flight returns at once.
func (r *Resolver) exchangeOne(ctx context.Context, m *dns.Msg, server, network string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	c := &dns.Client{Net: network, Timeout: r.timeout(), UDPSize: ednsSize}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return resp, err
}

// addrOf extracts the address of an A or AAAA record.
func addrOf(rr dns.RR) (netip.Addr, bool) {
	switch rr := rr.(type) {
	case *dns.A:
		a, ok := netip.AddrFromSlice(rr.A.To4())
		return a, ok
	case *dns.AAAA:
		a, ok := netip.AddrFromSlice(rr.AAAA.To16())
		return a, ok
	}
	return netip.Addr{}, false
}
