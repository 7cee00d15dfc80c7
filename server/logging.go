package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/parleysip/parley/proxy"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// Log attribute keys (DESIGN.md: "Attribute keys are constants"). Every
// log line about one request carries KeyCallID.
const (
	KeyCallID   = "call_id"
	KeyMethod   = "method"
	KeyStatus   = "status"
	KeyRemote   = "remote"
	KeyURI      = "uri"
	KeyDuration = "duration_ms"
	KeyError    = "error"
	// KeyForwardedTo is where the stateless proxy sent a request.
	KeyForwardedTo = "forwarded_to"
)

// logging logs one line per request handled through a transaction, at
// debug level (info for 5xx answers): call_id, method, Request-URI, the
// final status sent, the remote address, and the time taken. Requests
// the stateless proxy forwards or answers are logged by statelessEvent.
func (s *Server) logging(next stack.Handler) stack.Handler {
	return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		if !s.log.Enabled(ctx, slog.LevelDebug) && !s.log.Enabled(ctx, slog.LevelInfo) {
			next.ServeSIP(ctx, w, r)
			return
		}
		start := time.Now()
		lw := &statusWriter{ResponseWriter: w}
		next.ServeSIP(ctx, lw, r)
		level := slog.LevelDebug
		if lw.status >= 500 {
			level = slog.LevelInfo
		}
		if !s.log.Enabled(ctx, level) {
			return
		}
		s.logRequest(ctx, level, r, lw.Flow(),
			slog.Int(KeyStatus, int(lw.status)),
			slog.Float64(KeyDuration, float64(time.Since(start).Microseconds())/1000))
	})
}

// statelessEvent counts what the stateless proxy receives and sends, as
// the metrics middleware and proxy.OnBranch do for the stateful path, and
// logs one "request" line per request it forwards or answers (debug
// level; info for a 5xx answer), with the same keys as [Server.logging].
func (s *Server) statelessEvent(ev proxy.StatelessEvent) {
	m := s.metrics
	switch msg := ev.Message.(type) {
	case *sip.Request:
		switch ev.Kind {
		case proxy.StatelessReceived:
			m.inRequests.WithLabelValues(string(msg.Method)).Inc()
		case proxy.StatelessForwarded:
			// Logged before counted, here and below: a reader who sees
			// the count sees the line too.
			s.logStateless(slog.LevelDebug, msg, ev.Flow, slog.String(KeyForwardedTo, ev.Dest.Network.String()+":"+ev.Dest.Addr.String()))
			m.outRequests.WithLabelValues(string(msg.Method)).Inc()
		}
	case *sip.Response:
		if ev.Kind == proxy.StatelessAnswered && ev.Request != nil {
			level := slog.LevelDebug
			if msg.StatusCode >= 500 {
				level = slog.LevelInfo
			}
			s.logStateless(level, ev.Request, ev.Flow, slog.Int(KeyStatus, int(msg.StatusCode)))
		}
		switch ev.Kind {
		case proxy.StatelessReceived:
			m.inResponses.WithLabelValues(classOf(msg.StatusCode)).Inc()
		case proxy.StatelessForwarded, proxy.StatelessAnswered:
			m.outResponses.WithLabelValues(classOf(msg.StatusCode)).Inc()
		}
	}
}

func (s *Server) logStateless(level slog.Level, r *sip.Request, flow transport.Flow, what slog.Attr) {
	if ctx := context.Background(); s.log.Enabled(ctx, level) {
		s.logRequest(ctx, level, r, flow, what)
	}
}

// logRequest writes the "request" line of r received on flow: call_id,
// method, uri, then more, then remote.
func (s *Server) logRequest(ctx context.Context, level slog.Level, r *sip.Request, flow transport.Flow, more ...slog.Attr) {
	attrs := make([]slog.Attr, 0, 4+len(more))
	attrs = append(attrs,
		slog.String(KeyCallID, r.CallID()),
		slog.String(KeyMethod, string(r.Method)),
		slog.String(KeyURI, r.URI.String()))
	attrs = append(attrs, more...)
	if flow.Remote.IsValid() {
		attrs = append(attrs, slog.String(KeyRemote, flow.Network.String()+":"+flow.Remote.String()))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// statusWriter remembers the final status sent; it keeps the optional
// interfaces of the writer it wraps that the handlers use.
type statusWriter struct {
	stack.ResponseWriter
	status sip.StatusCode
}

func (w *statusWriter) Respond(res *sip.Response) error {
	if res.StatusCode >= 200 {
		w.status = res.StatusCode
	}
	return w.ResponseWriter.Respond(res)
}

// Flow forwards stack.FlowWriter (zero when the wrapped writer has none).
func (w *statusWriter) Flow() transport.Flow {
	if fw, ok := w.ResponseWriter.(stack.FlowWriter); ok {
		return fw.Flow()
	}
	return transport.Flow{}
}
