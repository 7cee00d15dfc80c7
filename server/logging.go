package server

import (
	"context"
	"log/slog"
	"time"

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
)

// logging logs one line per request handled through a transaction, at
// debug level (info for 5xx answers): call_id, method, Request-URI, the
// final status sent, the remote address, and the time taken. Requests
// the stateless proxy forwards are logged by the proxy (debug).
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
		attrs := []slog.Attr{
			slog.String(KeyCallID, r.CallID()),
			slog.String(KeyMethod, string(r.Method)),
			slog.String(KeyURI, r.URI.String()),
			slog.Int(KeyStatus, int(lw.status)),
			slog.Float64(KeyDuration, float64(time.Since(start).Microseconds())/1000),
		}
		if f := lw.Flow(); f.Remote.IsValid() {
			attrs = append(attrs, slog.String(KeyRemote, f.Network.String()+":"+f.Remote.String()))
		}
		s.log.LogAttrs(ctx, level, "request", attrs...)
	})
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
