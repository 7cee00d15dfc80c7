package server

import (
	"context"
	"runtime"
	"strconv"

	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/proxy"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics, named after the SIP MIB
// (RFC 4780): sipCommonStatsInRequests becomes
// sip_common_stats_in_requests_total, and so on.
type metrics struct {
	reg          *prometheus.Registry
	inRequests   *prometheus.CounterVec // sipCommonStatsInRequests, by method
	outRequests  *prometheus.CounterVec // sipCommonStatsOutRequests, by method
	inResponses  *prometheus.CounterVec // sipCommonStatusCodeIns, by class
	outResponses *prometheus.CounterVec // sipCommonStatusCodeOuts, by class
	authFailures prometheus.Counter     // sipServerAuth failures (RFC 4780 sipServerCfg...)
	panics       prometheus.CounterFunc
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.inRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sip_common_stats_in_requests_total",
		Help: "Requests received, by method (RFC 4780 sipCommonStatsInRequests).",
	}, []string{"method"})
	m.outRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sip_common_stats_out_requests_total",
		Help: "Requests sent (forwarded by the proxy), by method (RFC 4780 sipCommonStatsOutRequests).",
	}, []string{"method"})
	m.inResponses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sip_common_status_code_ins_total",
		Help: "Responses received, by status class (RFC 4780 sipCommonStatusCodeIns).",
	}, []string{"class"})
	m.outResponses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sip_common_status_code_outs_total",
		Help: "Final and provisional responses sent, by status class (RFC 4780 sipCommonStatusCodeOuts).",
	}, []string{"class"})
	m.authFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sip_server_auth_failures_total",
		Help: "Requests whose credentials were refused (401/407/403 to a request carrying credentials).",
	})
	m.panics = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "parley_handler_panics_total",
		Help: "Handler panics recovered (each answered 500).",
	}, func() float64 {
		if s.sip == nil {
			return 0
		}
		return float64(s.sip.Panics())
	})
	transactions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sip_common_summary_total_transactions",
		Help: "Live transactions (RFC 4780 sipCommonSummaryTotalTransactions counts them over time; this is the current number).",
	}, func() float64 {
		if s.sip == nil {
			return 0
		}
		return float64(s.sip.Transactions().Len())
	})
	contacts := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sip_server_registered_contacts",
		Help: "Registered contacts (live bindings) in the location service.",
	}, func() float64 {
		n := 0
		if s.store != nil {
			_ = s.store.Range(context.Background(), func(r location.Record) bool { n += len(r.Bindings); return n < 10_000_000 })
		}
		return float64(n)
	})
	procs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_gomaxprocs",
		Help: "CPUs the Go scheduler runs on now (GOMAXPROCS; procs: auto adapts it to the load).",
	}, func() float64 { return float64(runtime.GOMAXPROCS(0)) })
	m.reg.MustRegister(m.inRequests, m.outRequests, m.inResponses, m.outResponses, m.authFailures, m.panics, transactions, contacts, procs)
	return m
}

func classOf(code sip.StatusCode) string { return strconv.Itoa(code.Class()) + "xx" }

// middleware counts requests in and responses out, and credential
// failures. It sits outside authentication so that it sees challenges.
func (m *metrics) middleware(next stack.Handler) stack.Handler {
	return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		m.inRequests.WithLabelValues(string(r.Method)).Inc()
		creds := r.Has(string(sip.HeaderAuthorization)) || r.Has(string(sip.HeaderProxyAuthorization))
		next.ServeSIP(ctx, &countingWriter{ResponseWriter: w, m: m, creds: creds}, r)
	})
}

// branch counts what the proxy sends and receives.
func (m *metrics) branch(ev proxy.BranchEvent) {
	switch ev.Kind {
	case proxy.BranchForwarded:
		if ev.Request != nil {
			m.outRequests.WithLabelValues(string(ev.Request.Method)).Inc()
		}
	case proxy.BranchProvisional, proxy.BranchAnswered:
		if ev.Response != nil {
			m.inResponses.WithLabelValues(classOf(ev.Response.StatusCode)).Inc()
		}
	}
}

// countingWriter counts responses; it keeps the optional interfaces of the
// writer it wraps that the handlers use.
type countingWriter struct {
	stack.ResponseWriter
	m     *metrics
	creds bool
}

func (w *countingWriter) Respond(res *sip.Response) error {
	w.m.outResponses.WithLabelValues(classOf(res.StatusCode)).Inc()
	if w.creds && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthenticationRequired || res.StatusCode == sip.StatusForbidden) {
		w.m.authFailures.Inc()
	}
	return w.ResponseWriter.Respond(res)
}

// Flow forwards stack.FlowWriter (zero when the wrapped writer has none).
func (w *countingWriter) Flow() transport.Flow {
	if fw, ok := w.ResponseWriter.(stack.FlowWriter); ok {
		return fw.Flow()
	}
	return transport.Flow{}
}
