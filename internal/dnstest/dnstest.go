package dnstest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Serve answers queries from the records rrs (zone-file lines, e.g.
// "_sip._udp.example.test. 60 IN SRV 0 1 5060 pbx.example.test.") on a
// loopback UDP port until the test ends, and returns its "ip:port". A
// query with no matching record gets NXDOMAIN.
func Serve(t testing.TB, rrs ...string) string {
	t.Helper()
	return ServeSlow(t, 0, rrs...)
}

// ServeSlow is Serve with every answer held back for delay: a next hop
// slow to resolve.
func ServeSlow(t testing.TB, delay time.Duration, rrs ...string) string {
	t.Helper()
	var zone []dns.RR
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		zone = append(zone, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, rr := range zone {
			h := rr.Header()
			if strings.EqualFold(h.Name, q.Question[0].Name) && h.Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) == 0 {
			m.Rcode = dns.RcodeNameError
		}
		time.Sleep(delay)
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
