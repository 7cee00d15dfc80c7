package resolve

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testZone is served by every test DNS server. TTL 60 s for records; the
// SOA gives negative answers 30 s (min of its TTL and MINIMUM).
const testZone = `
test.                      60 IN SOA   ns.test. admin.test. 1 3600 600 86400 30

; The example of RFC 3263 §4.1.
example.test.              60 IN NAPTR 50  50 "s" "SIPS+D2T" "" _sips._tcp.example.test.
example.test.              60 IN NAPTR 90  50 "s" "SIP+D2T"  "" _sip._tcp.example.test.
example.test.              60 IN NAPTR 100 50 "s" "SIP+D2U"  "" _sip._udp.example.test.
_sips._tcp.example.test.   60 IN SRV   0 1 5061 tls1.example.test.
_sip._tcp.example.test.    60 IN SRV   0 1 5060 tcp1.example.test.
_sip._udp.example.test.    60 IN SRV   10 1 5070 udp2.example.test.
_sip._udp.example.test.    60 IN SRV   0 1 5060 udp1.example.test.
tls1.example.test.         60 IN A     192.0.2.1
tls1.example.test.         60 IN AAAA  2001:db8::1
tcp1.example.test.         60 IN A     192.0.2.2
udp1.example.test.         60 IN A     192.0.2.3
udp2.example.test.         60 IN A     192.0.2.4
example.test.              60 IN A     192.0.2.100

; Preference within one order, and services a client must discard.
pref.test.                 60 IN NAPTR 10 20 "s" "SIP+D2U"  "" _sip._udp.pref.test.
pref.test.                 60 IN NAPTR 10 10 "S" "SIP+D2T"  "" _sip._tcp.pref.test.
pref.test.                 60 IN NAPTR 10 5  "s" "SIP+D2X"  "" _sip._x.pref.test.
pref.test.                 60 IN NAPTR 10 1  "s" "SIPS+D2U" "" _sips._udp.pref.test.
pref.test.                 60 IN NAPTR 10 2  "u" "SIP+D2U"  "!^.*$!sip:x@bad.test!" .
pref.test.                 60 IN NAPTR 10 3  "s" "E2U+sip"  "" _sip._e2u.pref.test.
pref.test.                 60 IN NAPTR 20 10 "s" "SIP+D2W"  "" _sip._ws.pref.test.
_sip._udp.pref.test.       60 IN SRV   0 0 5060 u.pref.test.
_sip._tcp.pref.test.       60 IN SRV   0 0 5060 t.pref.test.
_sip._ws.pref.test.        60 IN SRV   0 0 8080 w.pref.test.
_sips._udp.pref.test.      60 IN SRV   0 0 5061 bad.pref.test.
_sip._x.pref.test.         60 IN SRV   0 0 5060 bad.pref.test.
_sip._e2u.pref.test.       60 IN SRV   0 0 5060 bad.pref.test.
u.pref.test.               60 IN A     192.0.2.11
t.pref.test.               60 IN A     192.0.2.12
w.pref.test.               60 IN A     192.0.2.13
bad.pref.test.             60 IN A     192.0.2.66

; sips must keep only SIPS+ services.
mix.test.                  60 IN NAPTR 10 10 "s" "SIP+D2U"  "" _sip._udp.mix.test.
mix.test.                  60 IN NAPTR 10 20 "s" "SIPS+D2T" "" _sips._tcp.mix.test.
mix.test.                  60 IN NAPTR 10 30 "s" "SIPS+D2W" "" _sips._ws.mix.test.
_sip._udp.mix.test.        60 IN SRV   0 0 5060 u.mix.test.
_sips._tcp.mix.test.       60 IN SRV   0 0 5061 t.mix.test.
_sips._ws.mix.test.        60 IN SRV   0 0 443 w.mix.test.
u.mix.test.                60 IN A     192.0.2.14
t.mix.test.                60 IN A     192.0.2.15
w.mix.test.                60 IN A     192.0.2.16

; SRV priorities.
_sip._udp.prio.test.       60 IN SRV   20 5 5060 c.prio.test.
_sip._udp.prio.test.       60 IN SRV   10 5 5060 b.prio.test.
_sip._udp.prio.test.       60 IN SRV   5  5 5060 a.prio.test.
a.prio.test.               60 IN A     192.0.2.21
b.prio.test.               60 IN A     192.0.2.22
c.prio.test.               60 IN A     192.0.2.23

; SRV weights.
_sip._udp.weight.test.     60 IN SRV   0 3 5060 heavy.weight.test.
_sip._udp.weight.test.     60 IN SRV   0 1 5060 light.weight.test.
heavy.weight.test.         60 IN A     192.0.2.31
light.weight.test.         60 IN A     192.0.2.32
_sip._udp.zero.test.       60 IN SRV   0 0 5060 z.zero.test.
_sip._udp.zero.test.       60 IN SRV   0 4 5060 nz.zero.test.
z.zero.test.               60 IN A     192.0.2.41
nz.zero.test.              60 IN A     192.0.2.42

; SRV without NAPTR.
_sip._udp.srvonly.test.    60 IN SRV   0 0 5060 u.srvonly.test.
_sip._tcp.srvonly.test.    60 IN SRV   0 0 5060 t.srvonly.test.
u.srvonly.test.            60 IN A     192.0.2.51
t.srvonly.test.            60 IN A     192.0.2.52

; Addresses only.
aonly.test.                60 IN A     192.0.2.61
aonly.test.                60 IN AAAA  2001:db8::61
loop.test.                 60 IN A     127.0.0.1
loop.test.                 60 IN AAAA  ::1
www.cname.test.            60 IN CNAME aonly.test.

; SRV answered with its targets' addresses in the additional section.
_sip._udp.hint.test.       60 IN SRV   0 0 5060 h1.hint.test.
h1.hint.test.              60 IN A     192.0.2.71
h1.hint.test.              60 IN AAAA  2001:db8::71

; "Decidedly not available" (RFC 2782).
_sip._udp.dot.test.        60 IN SRV   0 0 0 .
dot.test.                  60 IN A     192.0.2.81

; Only reachable over TCP (truncated over UDP).
big.test.                  60 IN A     192.0.2.91
`

// testServer is a small authoritative DNS server for testZone on
// 127.0.0.1, over UDP and TCP on the same port. It counts the queries it
// gets per "name TYPE".
type testServer struct {
	addr string

	mu         sync.Mutex
	counts     map[string]int
	total      int
	additional bool // put SRV targets' addresses in the additional section

	received chan string // names of dropped queries, non-blocking sends

	rrs []dns.RR
}

func parseZone(t testing.TB, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("zone: %v", err)
	}
	return rrs
}

// startServer runs a test DNS server until the test ends.
func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{counts: map[string]int{}, received: make(chan string, 16), rrs: parseZone(t, testZone)}

	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatalf("no port free for UDP and TCP: %v", err)
		}
	}
	s.addr = pc.LocalAddr().String()

	var wg sync.WaitGroup
	serve := func(srv *dns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
	}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	serve(udp)
	serve(tcp)
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		wg.Wait()
	})
	return s
}

func (s *testServer) count(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[dns.CanonicalName(name)+" "+dns.TypeToString[qtype]]
}

func (s *testServer) queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *testServer) setAdditional(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.additional = on
}

// exists reports whether name owns records or has names below it.
func (s *testServer) exists(name string) bool {
	for _, rr := range s.rrs {
		owner := dns.CanonicalName(rr.Header().Name)
		if owner == name || strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	s.mu.Lock()
	s.counts[name+" "+dns.TypeToString[q.Qtype]]++
	s.total++
	additional := s.additional
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	_, overUDP := w.RemoteAddr().(*net.UDPAddr)

	switch {
	case name == "slow.test.":
		select {
		case s.received <- name:
		default:
		}
		return // never answer
	case name == "fail.test.":
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case name == "big.test." && overUDP:
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}

	for _, rr := range s.rrs {
		h := rr.Header()
		if dns.CanonicalName(h.Name) != name {
			continue
		}
		// CNAMEs are returned alone: the client must follow them.
		if h.Rrtype == q.Qtype || h.Rrtype == dns.TypeCNAME {
			m.Answer = append(m.Answer, rr)
		}
	}
	if additional && q.Qtype == dns.TypeSRV {
		for _, a := range m.Answer {
			target := dns.CanonicalName(a.(*dns.SRV).Target)
			for _, rr := range s.rrs {
				h := rr.Header()
				if dns.CanonicalName(h.Name) == target && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) {
					m.Extra = append(m.Extra, rr)
				}
			}
		}
	}
	if len(m.Answer) == 0 {
		if !s.exists(name) {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, s.rrs[0]) // the SOA, for negative caching
	}
	_ = w.WriteMsg(m)
}

// fakeClock is a manually advanced clock for cache tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
