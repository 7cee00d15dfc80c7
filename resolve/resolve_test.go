package resolve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/parleysip/parley/transport"
)

func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		// Leak check: every goroutine started by the tests (DNS servers,
		// parallel queries) must be gone after a short settle.
		n := 0
		for range 50 {
			n = runtime.NumGoroutine()
			if n <= before {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before tests, %d after\n%s\n", before, n, buf)
			code = 1
		}
	}
	os.Exit(code)
}

// newResolver returns a resolver asking only s, with a private cache.
func newResolver(s *testServer) *Resolver {
	return &Resolver{Servers: []string{s.addr}, Timeout: 2 * time.Second}
}

// tgt is a compact expected target.
type tgt struct {
	net  transport.Network
	addr string
}

func got(ts []Target) []tgt {
	out := make([]tgt, len(ts))
	for i, t := range ts {
		out[i] = tgt{t.Network, t.Addr.String()}
	}
	return out
}

func equalTargets(a, b []tgt) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLookupNumeric(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name string
		q    Query
		want tgt
	}{
		{"ipv4 sip", Query{Host: "192.0.2.1"}, tgt{transport.UDP, "192.0.2.1:5060"}},
		{"ipv4 sips", Query{Host: "192.0.2.1", Secure: true}, tgt{transport.TLS, "192.0.2.1:5061"}},
		{"ipv4 port", Query{Host: "192.0.2.1", Port: 5080}, tgt{transport.UDP, "192.0.2.1:5080"}},
		{"ipv4 tcp", Query{Host: "192.0.2.1", Transport: transport.TCP}, tgt{transport.TCP, "192.0.2.1:5060"}},
		{"ipv4 tls on sip", Query{Host: "192.0.2.1", Transport: transport.TLS}, tgt{transport.TLS, "192.0.2.1:5061"}},
		{"ipv6 brackets", Query{Host: "[2001:db8::1]", Port: 5070, Transport: transport.TCP}, tgt{transport.TCP, "[2001:db8::1]:5070"}},
		{"ipv6 bare", Query{Host: "2001:db8::1"}, tgt{transport.UDP, "[2001:db8::1]:5060"}},
		{"ipv6 ws", Query{Host: "2001:db8::1", Transport: transport.WS}, tgt{transport.WS, "[2001:db8::1]:80"}},
		{"sips tcp is tls", Query{Host: "::1", Secure: true, Transport: transport.TCP}, tgt{transport.TLS, "[::1]:5061"}},
		{"sips ws is wss", Query{Host: "::1", Secure: true, Transport: transport.WS}, tgt{transport.WSS, "[::1]:443"}},
		{"maddr overrides host", Query{Host: "example.test", MAddr: "192.0.2.99"}, tgt{transport.UDP, "192.0.2.99:5060"}},
		{"maddr ipv6", Query{Host: "example.test", MAddr: "[2001:db8::99]", Port: 5999}, tgt{transport.UDP, "[2001:db8::99]:5999"}},
	}
	r := newResolver(s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := r.Lookup(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := got(ts); !equalTargets(g, []tgt{tt.want}) {
				t.Fatalf("got %v, want %v", g, tt.want)
			}
			if ts[0].TTL != 0 || ts[0].Name != "" {
				t.Errorf("numeric target has TTL %v name %q, want 0 and empty", ts[0].TTL, ts[0].Name)
			}
		})
	}
	if n := s.queries(); n != 0 {
		t.Errorf("numeric hosts sent %d DNS queries, want 0", n)
	}
}

func TestLookupNames(t *testing.T) {
	U, T, S, W, WS := transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS
	all := []transport.Network{U, T, S, W, WS}
	tests := []struct {
		name       string
		q          Query
		transports []transport.Network
		ipv6       bool
		want       []tgt
		// queries that must have been sent (n > 0) or not (n == 0)
		asked map[string]int
	}{
		{
			name: "explicit port skips NAPTR and SRV",
			q:    Query{Host: "example.test", Port: 5080},
			want: []tgt{{U, "192.0.2.100:5080"}},
			asked: map[string]int{"example.test. NAPTR": 0, "_sip._udp.example.test. SRV": 0,
				"example.test. A": 1, "example.test. AAAA": 1},
		},
		{
			name:  "explicit port with ::1",
			q:     Query{Host: "loop.test", Port: 5070},
			want:  []tgt{{U, "127.0.0.1:5070"}, {U, "[::1]:5070"}},
			asked: map[string]int{"loop.test. NAPTR": 0, "loop.test. A": 1, "loop.test. AAAA": 1},
		},
		{
			name: "explicit port and transport",
			q:    Query{Host: "loop.test", Port: 5070, Transport: T},
			ipv6: true,
			want: []tgt{{T, "[::1]:5070"}, {T, "127.0.0.1:5070"}},
		},
		{
			name: "explicit port sips",
			q:    Query{Host: "loop.test", Port: 5071, Secure: true},
			want: []tgt{{S, "127.0.0.1:5071"}, {S, "[::1]:5071"}},
		},
		{
			name:  "NAPTR: client supporting TLS takes SIPS+D2T, order 50",
			q:     Query{Host: "example.test"},
			want:  []tgt{{S, "192.0.2.1:5061"}, {S, "[2001:db8::1]:5061"}},
			asked: map[string]int{"example.test. NAPTR": 1, "_sips._tcp.example.test. SRV": 1, "_sip._tcp.example.test. SRV": 0, "_sip._udp.example.test. SRV": 0},
		},
		{
			name:       "NAPTR: RFC 3263 example, client with UDP and TCP uses TCP",
			q:          Query{Host: "example.test"},
			transports: []transport.Network{U, T},
			want:       []tgt{{T, "192.0.2.2:5060"}},
			asked:      map[string]int{"_sips._tcp.example.test. SRV": 0, "_sip._udp.example.test. SRV": 0},
		},
		{
			name:       "NAPTR: UDP-only client, SRV priority order",
			q:          Query{Host: "example.test"},
			transports: []transport.Network{U},
			want:       []tgt{{U, "192.0.2.3:5060"}, {U, "192.0.2.4:5070"}},
		},
		{
			name:  "NAPTR: preference within order, inapplicable services discarded",
			q:     Query{Host: "pref.test"},
			want:  []tgt{{T, "192.0.2.12:5060"}, {U, "192.0.2.11:5060"}},
			asked: map[string]int{"_sips._udp.pref.test. SRV": 0, "_sip._x.pref.test. SRV": 0, "_sip._e2u.pref.test. SRV": 0, "_sip._ws.pref.test. SRV": 0},
		},
		{
			name:       "NAPTR: later order used when the first has no supported service",
			q:          Query{Host: "pref.test"},
			transports: []transport.Network{W},
			want:       []tgt{{W, "192.0.2.13:8080"}},
			asked:      map[string]int{"_sip._udp.pref.test. SRV": 0, "_sip._tcp.pref.test. SRV": 0},
		},
		{
			name:       "NAPTR: sips keeps only SIPS services",
			q:          Query{Host: "mix.test", Secure: true},
			transports: all,
			want:       []tgt{{S, "192.0.2.15:5061"}, {WS, "192.0.2.16:443"}},
			asked:      map[string]int{"_sip._udp.mix.test. SRV": 0},
		},
		{
			name:       "NAPTR: sip keeps SIPS services too",
			q:          Query{Host: "mix.test"},
			transports: all,
			want:       []tgt{{U, "192.0.2.14:5060"}, {S, "192.0.2.15:5061"}, {WS, "192.0.2.16:443"}},
		},
		{
			name:  "sips on RFC 3263 example",
			q:     Query{Host: "example.test", Secure: true},
			want:  []tgt{{S, "192.0.2.1:5061"}, {S, "[2001:db8::1]:5061"}},
			asked: map[string]int{"_sip._tcp.example.test. SRV": 0},
		},
		{
			name: "no NAPTR: SRV of each supported transport in client order",
			q:    Query{Host: "srvonly.test"},
			want: []tgt{{U, "192.0.2.51:5060"}, {T, "192.0.2.52:5060"}},
			asked: map[string]int{"srvonly.test. NAPTR": 1, "_sip._udp.srvonly.test. SRV": 1, "_sip._tcp.srvonly.test. SRV": 1,
				"_sips._tcp.srvonly.test. SRV": 1, "srvonly.test. A": 0},
		},
		{
			name:       "no NAPTR: client preference TCP first",
			q:          Query{Host: "srvonly.test"},
			transports: []transport.Network{T, U},
			want:       []tgt{{T, "192.0.2.52:5060"}, {U, "192.0.2.51:5060"}},
		},
		{
			name:  "no NAPTR, no SRV: A and AAAA, UDP, default port",
			q:     Query{Host: "aonly.test"},
			want:  []tgt{{U, "192.0.2.61:5060"}, {U, "[2001:db8::61]:5060"}},
			asked: map[string]int{"aonly.test. NAPTR": 1, "_sip._udp.aonly.test. SRV": 1, "_sip._tcp.aonly.test. SRV": 1, "_sips._tcp.aonly.test. SRV": 1},
		},
		{
			name: "no NAPTR, no SRV, PreferIPv6",
			q:    Query{Host: "aonly.test"},
			ipv6: true,
			want: []tgt{{U, "[2001:db8::61]:5060"}, {U, "192.0.2.61:5060"}},
		},
		{
			name:  "no NAPTR, no SRV, sips: TLS on 5061, only _sips SRV asked",
			q:     Query{Host: "aonly.test", Secure: true},
			want:  []tgt{{S, "192.0.2.61:5061"}, {S, "[2001:db8::61]:5061"}},
			asked: map[string]int{"_sips._tcp.aonly.test. SRV": 1, "_sip._udp.aonly.test. SRV": 0, "_sip._tcp.aonly.test. SRV": 0},
		},
		{
			name:  "transport param: SRV for that transport, no NAPTR",
			q:     Query{Host: "example.test", Transport: T},
			want:  []tgt{{T, "192.0.2.2:5060"}},
			asked: map[string]int{"example.test. NAPTR": 0, "_sip._tcp.example.test. SRV": 1},
		},
		{
			name:  "transport=tls on sip URI uses _sips",
			q:     Query{Host: "example.test", Transport: S},
			want:  []tgt{{S, "192.0.2.1:5061"}, {S, "[2001:db8::1]:5061"}},
			asked: map[string]int{"example.test. NAPTR": 0, "_sips._tcp.example.test. SRV": 1},
		},
		{
			name:  "transport param, no SRV: A/AAAA on the transport's default port",
			q:     Query{Host: "aonly.test", Transport: W},
			want:  []tgt{{W, "192.0.2.61:80"}, {W, "[2001:db8::61]:80"}},
			asked: map[string]int{"_sip._ws.aonly.test. SRV": 1, "aonly.test. NAPTR": 0},
		},
		{
			name:  "transport param sips tcp: _sips._tcp",
			q:     Query{Host: "aonly.test", Transport: T, Secure: true},
			want:  []tgt{{S, "192.0.2.61:5061"}, {S, "[2001:db8::61]:5061"}},
			asked: map[string]int{"_sips._tcp.aonly.test. SRV": 1, "_sip._tcp.aonly.test. SRV": 0},
		},
		{
			name: "SRV priority order",
			q:    Query{Host: "prio.test", Transport: U},
			want: []tgt{{U, "192.0.2.21:5060"}, {U, "192.0.2.22:5060"}, {U, "192.0.2.23:5060"}},
		},
		{
			name:  "maddr name overrides host",
			q:     Query{Host: "example.test", MAddr: "aonly.test", Port: 5090},
			want:  []tgt{{U, "192.0.2.61:5090"}, {U, "[2001:db8::61]:5090"}},
			asked: map[string]int{"example.test. A": 0, "aonly.test. A": 1},
		},
		{
			name:  "CNAME followed",
			q:     Query{Host: "www.cname.test", Port: 5062},
			want:  []tgt{{U, "192.0.2.61:5062"}, {U, "[2001:db8::61]:5062"}},
			asked: map[string]int{"www.cname.test. A": 1, "aonly.test. A": 1, "aonly.test. AAAA": 1},
		},
		{
			name:  "truncated UDP answer retried over TCP",
			q:     Query{Host: "big.test", Port: 5060},
			want:  []tgt{{U, "192.0.2.91:5060"}},
			asked: map[string]int{"big.test. A": 2},
		},
		{
			name:  "localhost answered without DNS",
			q:     Query{Host: "localhost"},
			want:  []tgt{{U, "127.0.0.1:5060"}, {U, "[::1]:5060"}},
			asked: map[string]int{"localhost. NAPTR": 0, "localhost. A": 0},
		},
		{
			name: "case and trailing dot",
			q:    Query{Host: "AOnly.Test.", Port: 5060},
			want: []tgt{{U, "192.0.2.61:5060"}, {U, "[2001:db8::61]:5060"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			r := newResolver(s)
			r.Transports = tt.transports
			r.PreferIPv6 = tt.ipv6
			ts, err := r.Lookup(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := got(ts); !equalTargets(g, tt.want) {
				t.Fatalf("got  %v\nwant %v", g, tt.want)
			}
			for k, n := range tt.asked {
				name, typ, _ := strings.Cut(k, " ")
				if c := s.count(name, dns.StringToType[typ]); (n == 0) != (c == 0) || (n > 0 && c != n) {
					t.Errorf("server got %d queries for %s, want %d", c, k, n)
				}
			}
			wantHost := strings.ToLower(strings.TrimSuffix(tt.q.Host, "."))
			if tt.q.MAddr != "" {
				wantHost = tt.q.MAddr
			}
			for _, tg := range ts {
				if tg.Host != wantHost {
					t.Errorf("target %v: Host %q, want %q", tg, tg.Host, wantHost)
				}
				if tg.TTL <= 0 || tg.TTL > 60*time.Second && tt.q.Host != "localhost" {
					t.Errorf("target %v: TTL %v, want (0, 60s]", tg, tg.TTL)
				}
			}
		})
	}
}

func TestLookupTargetNames(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	ts, err := r.Lookup(context.Background(), Query{Host: "Example.Test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Host != "example.test" || tg.Name != "tls1.example.test" {
			t.Errorf("%v: Host %q Name %q, want example.test and tls1.example.test", tg, tg.Host, tg.Name)
		}
	}
}

func TestSRVAdditionalSection(t *testing.T) {
	s := startServer(t)
	s.setAdditional(true)
	r := newResolver(s)
	ts, err := r.Lookup(context.Background(), Query{Host: "hint.test", Transport: transport.UDP})
	if err != nil {
		t.Fatal(err)
	}
	want := []tgt{{transport.UDP, "192.0.2.71:5060"}, {transport.UDP, "[2001:db8::71]:5060"}}
	if g := got(ts); !equalTargets(g, want) {
		t.Fatalf("got %v, want %v", g, want)
	}
	if a, aaaa := s.count("h1.hint.test.", dns.TypeA), s.count("h1.hint.test.", dns.TypeAAAA); a+aaaa != 0 {
		t.Errorf("additional section ignored: %d A and %d AAAA queries for the SRV target", a, aaaa)
	}
}

func TestSRVWeights(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		first   string  // address whose share of first place is measured
		share   float64 // expected share
		tol     float64 // allowed deviation of the share
		seeded  bool
		lookups int
	}{
		{"3:1", "weight.test", "192.0.2.31:5060", 0.75, 0.05, false, 2000},
		// Deterministic, so a tighter bound cannot flake.
		{"3:1 seeded", "weight.test", "192.0.2.31:5060", 0.75, 0.02, true, 4000},
		// RFC 2782: weight 0 gets a small chance, here 1/(4+1).
		{"0:4", "zero.test", "192.0.2.41:5060", 0.20, 0.05, false, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			r := newResolver(s)
			if tt.seeded {
				var mu sync.Mutex
				rng := rand.New(rand.NewPCG(1, 2))
				r.randN = func(n int) int { mu.Lock(); defer mu.Unlock(); return rng.IntN(n) }
			}
			hits := 0
			for range tt.lookups {
				ts, err := r.Lookup(context.Background(), Query{Host: tt.host, Transport: transport.UDP})
				if err != nil {
					t.Fatal(err)
				}
				if len(ts) != 2 {
					t.Fatalf("got %d targets, want 2", len(ts))
				}
				if ts[0].Addr.String() == tt.first {
					hits++
				}
			}
			share := float64(hits) / float64(tt.lookups)
			if share < tt.share-tt.tol || share > tt.share+tt.tol {
				t.Errorf("%s first in %.3f of lookups, want %.2f±%.2f", tt.first, share, tt.share, tt.tol)
			}
			// The SRV set was cached: the weights are drawn anew per lookup
			// from the cached records, not per DNS query.
			if n := s.count("_sip._udp."+tt.host+".", dns.TypeSRV); n != 1 {
				t.Errorf("SRV asked %d times, want 1 (cached)", n)
			}
		})
	}
}

func TestOrderSRVPriorityAndWeightZero(t *testing.T) {
	srv := func(prio, weight uint16, target string) *dns.SRV {
		return &dns.SRV{Hdr: dns.RR_Header{Rrtype: dns.TypeSRV}, Priority: prio, Weight: weight, Port: 5060, Target: target}
	}
	r := &Resolver{}
	in := []*dns.SRV{srv(2, 0, "c."), srv(1, 0, "b."), srv(1, 0, "a."), srv(0, 10, "x.")}
	for range 100 {
		out := r.orderSRV(in)
		var names []string
		for _, s := range out {
			names = append(names, s.Target)
		}
		// All weights zero within priority 1: deterministic base order.
		if g := strings.Join(names, " "); g != "x. a. b. c." {
			t.Fatalf("order %q, want %q", g, "x. a. b. c.")
		}
	}
	if in[0].Target != "c." {
		t.Error("orderSRV modified its input")
	}
}

func TestCaching(t *testing.T) {
	s := startServer(t)
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := NewCache(0)
	c.now = clock.Now
	r := newResolver(s)
	r.Cache = c
	ctx := context.Background()
	q := Query{Host: "aonly.test"}
	want := []tgt{{transport.UDP, "192.0.2.61:5060"}, {transport.UDP, "[2001:db8::61]:5060"}}

	check := func(step string, wantQueries int) []Target {
		t.Helper()
		before := s.queries()
		ts, err := r.Lookup(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if g := got(ts); !equalTargets(g, want) {
			t.Fatalf("%s: got %v, want %v", step, g, want)
		}
		if n := s.queries() - before; n != wantQueries {
			t.Errorf("%s: %d queries sent, want %d", step, n, wantQueries)
		}
		return ts
	}
	// NAPTR, 3 SRV (negative), A, AAAA.
	ts := check("first lookup", 6)
	if ts[0].TTL != 60*time.Second {
		t.Errorf("first lookup TTL %v, want 60s", ts[0].TTL)
	}
	ts = check("second lookup", 0)
	if ts[0].TTL != 60*time.Second {
		t.Errorf("second lookup TTL %v, want 60s", ts[0].TTL)
	}
	clock.Advance(10 * time.Second)
	ts = check("after 10s", 0)
	if ts[0].TTL != 50*time.Second {
		t.Errorf("after 10s TTL %v, want 50s", ts[0].TTL)
	}
	// Negative answers live 30 s (SOA minimum), positive ones 60 s.
	clock.Advance(25 * time.Second)
	check("after 35s", 4)
	clock.Advance(26 * time.Second) // negatives re-fetched at 35 s live until 65 s
	check("after 61s", 2)
	check("again", 0)

	// A Resolver with NoCache asks every time.
	nr := newResolver(s)
	nr.NoCache = true
	before := s.queries()
	for range 2 {
		if _, err := nr.Lookup(ctx, Query{Host: "aonly.test", Port: 5060}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.queries() - before; n != 4 {
		t.Errorf("NoCache: %d queries for two lookups, want 4", n)
	}
}

func TestCacheNegativeNXDOMAIN(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	for i := range 3 {
		_, err := r.Lookup(context.Background(), Query{Host: "nope.test", Port: 5060})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("lookup %d: err %v, want ErrNotFound", i, err)
		}
	}
	if n := s.queries(); n != 2 {
		t.Errorf("%d queries for three lookups of a missing name, want 2 (A and AAAA, then cached)", n)
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		name    string
		q       Query
		queries int // exact number of queries expected, -1 = don't care
	}{
		// RFC 8020: NXDOMAIN for the NAPTR ends the search.
		{"NXDOMAIN", Query{Host: "nope.test"}, 1},
		{"NXDOMAIN with port", Query{Host: "nope.test", Port: 5060}, 2},
		{"NXDOMAIN with transport", Query{Host: "nope.test", Transport: transport.TCP}, 3},
		{"sips without _sips SRV nor address", Query{Host: "srvonly.test", Secure: true}, -1},
		{"SRV target dot: no fallback to A", Query{Host: "dot.test", Transport: transport.UDP}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			r := newResolver(s)
			ts, err := r.Lookup(context.Background(), tt.q)
			if err == nil {
				t.Fatalf("got %v, want error", ts)
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err %v does not wrap ErrNotFound", err)
			}
			if !strings.HasPrefix(err.Error(), "resolve: ") {
				t.Errorf("error %q lacks the resolve: prefix", err)
			}
			if tt.queries >= 0 && s.queries() != tt.queries {
				t.Errorf("%d queries, want %d", s.queries(), tt.queries)
			}
		})
	}

	s := startServer(t)
	_, err := newResolver(s).Lookup(context.Background(), Query{Host: "nope.test"})
	var de *DNSError
	if !errors.As(err, &de) || de.Rcode != dns.RcodeNameError || !de.NXDomain() {
		t.Fatalf("err %v: want *DNSError with NXDOMAIN", err)
	}
	if de.Name != "nope.test." || de.Type != "NAPTR" {
		t.Errorf("DNSError names %s %s, want nope.test. NAPTR", de.Name, de.Type)
	}
}

func TestServerErrors(t *testing.T) {
	s := startServer(t)
	// SERVFAIL is not "not found".
	_, err := newResolver(s).Lookup(context.Background(), Query{Host: "fail.test", Port: 5060})
	var de *DNSError
	if !errors.As(err, &de) || de.Rcode != dns.RcodeServerFailure || errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v: want *DNSError SERVFAIL not wrapping ErrNotFound", err)
	}
	if !strings.HasPrefix(err.Error(), "resolve: ") {
		t.Errorf("error %q lacks the resolve: prefix", err)
	}

	// A server that never answers: skipped after Timeout for the next one.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	r := &Resolver{Servers: []string{dead.LocalAddr().String(), s.addr}, Timeout: 200 * time.Millisecond, NoCache: true}
	ts, err := r.Lookup(context.Background(), Query{Host: "aonly.test", Port: 5060})
	if err != nil || len(ts) != 2 {
		t.Fatalf("with a dead first server: %v, %v; want 2 targets", ts, err)
	}
	r.Servers = r.Servers[:1]
	_, err = r.Lookup(context.Background(), Query{Host: "aonly.test", Port: 5060})
	if err == nil || errors.Is(err, ErrNotFound) || !errors.As(err, &de) || de.Rcode != -1 {
		t.Fatalf("only a dead server: err %v, want a no-response *DNSError", err)
	}
}

func TestInvalidQueries(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name       string
		q          Query
		transports []transport.Network
		want       error
	}{
		{"empty host", Query{}, nil, ErrInvalidQuery},
		{"bad host", Query{Host: "bad host"}, nil, ErrInvalidQuery},
		{"bad label", Query{Host: "a..b"}, nil, ErrInvalidQuery},
		{"sips over udp", Query{Host: "192.0.2.1", Secure: true, Transport: transport.UDP}, nil, ErrUnsupportedTransport},
		{"sips over sctp", Query{Host: "example.test", Secure: true, Transport: transport.SCTP}, nil, ErrUnsupportedTransport},
		{"sips with no secure transport", Query{Host: "example.test", Secure: true}, []transport.Network{transport.UDP, transport.TCP}, ErrUnsupportedTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(s)
			r.Transports = tt.transports
			_, err := r.Lookup(context.Background(), tt.q)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "resolve: ") {
				t.Errorf("error %q lacks the resolve: prefix", err)
			}
		})
	}
	if n := s.queries(); n != 0 {
		t.Errorf("invalid queries sent %d DNS queries", n)
	}
	if _, err := newResolver(s).LookupResponse(context.Background(), "example.test", 0, transport.Unknown); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("LookupResponse without transport: err %v, want ErrInvalidQuery", err)
	}
}

func TestContextCancel(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	r.Timeout = 30 * time.Second

	// Canceled while the query is in flight: returns at once, not after
	// the 30 s timeout.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-s.received:
			cancel()
		case <-time.After(10 * time.Second):
			cancel()
		}
	}()
	start := time.Now()
	_, err := r.Lookup(ctx, Query{Host: "slow.test", Port: 5060})
	elapsed := time.Since(start)
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if !strings.HasPrefix(err.Error(), "resolve: ") {
		t.Errorf("error %q lacks the resolve: prefix", err)
	}
	if elapsed > 10*time.Second {
		t.Errorf("canceled lookup took %v", elapsed)
	}

	// Already canceled: no query at all. (Only these names are counted: a
	// slow.test query of the lookup above may still be arriving.)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	for _, q := range []Query{{Host: "aonly.test"}, {Host: "aonly.test", Port: 5060}, {Host: "prio.test", Transport: transport.UDP}} {
		if _, err := r.Lookup(ctx, q); !errors.Is(err, context.Canceled) {
			t.Errorf("%+v: err %v, want context.Canceled", q, err)
		}
	}
	for _, name := range []string{"aonly.test.", "_sip._udp.prio.test."} {
		for _, typ := range []uint16{dns.TypeNAPTR, dns.TypeSRV, dns.TypeA, dns.TypeAAAA} {
			if n := s.count(name, typ); n != 0 {
				t.Errorf("canceled context sent %d %s queries for %s", n, dns.TypeToString[typ], name)
			}
		}
	}

	// A deadline shorter than Timeout bounds the query too.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Lookup(ctx, Query{Host: "slow.test", Port: 5060}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
}

func TestLookupResponse(t *testing.T) {
	U, T, S := transport.UDP, transport.TCP, transport.TLS
	tests := []struct {
		name  string
		host  string
		port  uint16
		netw  transport.Network
		want  []tgt
		asked map[string]int
	}{
		{"numeric, default port", "192.0.2.5", 0, S, []tgt{{S, "192.0.2.5:5061"}}, nil},
		{"numeric, port", "[2001:db8::5]", 5099, U, []tgt{{U, "[2001:db8::5]:5099"}}, nil},
		{"name and port: A/AAAA", "example.test", 5099, T, []tgt{{T, "192.0.2.100:5099"}},
			map[string]int{"_sip._tcp.example.test. SRV": 0, "example.test. NAPTR": 0}},
		{"name, TLS: _sips._tcp SRV", "example.test", 0, S, []tgt{{S, "192.0.2.1:5061"}, {S, "[2001:db8::1]:5061"}},
			map[string]int{"_sips._tcp.example.test. SRV": 1, "example.test. NAPTR": 0}},
		{"name, UDP: _sip._udp SRV", "example.test", 0, U, []tgt{{U, "192.0.2.3:5060"}, {U, "192.0.2.4:5070"}},
			map[string]int{"_sip._udp.example.test. SRV": 1}},
		{"name, no SRV: A/AAAA default port", "aonly.test", 0, T, []tgt{{T, "192.0.2.61:5060"}, {T, "[2001:db8::61]:5060"}},
			map[string]int{"_sip._tcp.aonly.test. SRV": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			ts, err := newResolver(s).LookupResponse(context.Background(), tt.host, tt.port, tt.netw)
			if err != nil {
				t.Fatal(err)
			}
			if g := got(ts); !equalTargets(g, tt.want) {
				t.Fatalf("got %v, want %v", g, tt.want)
			}
			if tt.asked == nil && s.queries() != 0 {
				t.Errorf("numeric sent-by sent %d queries", s.queries())
			}
			for k, n := range tt.asked {
				name, typ, _ := strings.Cut(k, " ")
				if c := s.count(name, dns.StringToType[typ]); c != n {
					t.Errorf("server got %d queries for %s, want %d", c, k, n)
				}
			}
		})
	}
	s := startServer(t)
	if _, err := newResolver(s).LookupResponse(context.Background(), "nope.test", 0, U); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing sent-by: err %v, want ErrNotFound", err)
	}
}

func TestConcurrentLookups(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	hosts := []Query{{Host: "example.test"}, {Host: "aonly.test"}, {Host: "pref.test"}, {Host: "prio.test", Transport: transport.UDP}}
	for i := range 32 {
		wg.Go(func() {
			if _, err := r.Lookup(context.Background(), hosts[i%len(hosts)]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTargetString(t *testing.T) {
	tg := Target{Network: transport.TLS, Addr: netip.MustParseAddrPort("[2001:db8::1]:5061"), Host: "example.test"}
	if g, w := tg.String(), "TLS [2001:db8::1]:5061 (example.test)"; g != w {
		t.Errorf("String() = %q, want %q", g, w)
	}
}

func TestNormServer(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.53":      "192.0.2.53:53",
		"192.0.2.53:5353": "192.0.2.53:5353",
		"::1":             "[::1]:53",
		"[::1]":           "[::1]:53",
		"[::1]:5353":      "[::1]:5353",
	} {
		if g := normServer(in); g != want {
			t.Errorf("normServer(%q) = %q, want %q", in, g, want)
		}
	}
}
