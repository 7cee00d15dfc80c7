package stack

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/parleysip/parley/sip"
)

// A Handler answers SIP requests.
//
// ServeSIP is called once per new server transaction (every request except
// an ACK for a 2xx, which has no transaction; see [Server.OnAck]). The
// handler sends responses with w.Respond: any number of provisional ones
// and exactly one final one. Returning from ServeSIP means the request is
// finished: if no final response was sent, the Server sends 500 Server
// Internal Error (RFC 3261 §8.2: every request gets a final response). The
// ResponseWriter must not be used after ServeSIP returns.
//
// ctx is cancelled when the server transaction ends, and with cause
// [ErrCanceled] (a [*CancelError] holding the CANCEL, whose Reason says
// why) when a CANCEL for this request arrives (§9.2); the Server
// then answers the CANCEL 200 and, if the handler has not sent a final
// response by the time it returns, the INVITE 487 Request Terminated.
//
// If ServeSIP panics, the Server recovers, counts the panic, answers 500
// (when no final response was sent) and carries on; panicking with
// [ErrAbortHandler] suppresses the log line, as in net/http.
type Handler interface {
	ServeSIP(ctx context.Context, w ResponseWriter, r *sip.Request)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *sip.Request)

// ServeSIP calls f(ctx, w, r).
func (f HandlerFunc) ServeSIP(ctx context.Context, w ResponseWriter, r *sip.Request) {
	f(ctx, w, r)
}

// ResponseWriter sends responses for one server transaction. It is
// deliberately narrow; further abilities are optional interfaces (such as
// [FlowWriter]) found by type assertion.
type ResponseWriter interface {
	// Respond sends res through the server transaction. A second final
	// response, or a provisional response after a final one, is refused
	// with an error.
	Respond(res *sip.Response) error
	// Responded reports whether a final response has been sent.
	Responded() bool
}

// Middleware wraps a Handler, as CoreDNS plugins do. Middlewares are
// composed once, at start-up, with [Chain].
type Middleware func(Handler) Handler

// Chain returns h wrapped by mws, the first of which sees requests first.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// ServeMux dispatches requests by method. The zero value is ready to use.
// A request whose method has no handler is answered 405 Method Not Allowed
// with an Allow header listing the methods that have one (RFC 3261
// §8.2.1); a handler registered for "" catches every other method instead.
type ServeMux struct {
	mu sync.RWMutex
	m  map[sip.Method]Handler
}

// Handle registers h for method. It panics on a nil handler or a method
// registered twice (a programming error, as in net/http).
func (mux *ServeMux) Handle(method sip.Method, h Handler) {
	if h == nil {
		panic("stack: nil handler for " + string(method))
	}
	mux.mu.Lock()
	defer mux.mu.Unlock()
	if mux.m == nil {
		mux.m = make(map[sip.Method]Handler)
	}
	if _, dup := mux.m[method]; dup {
		panic("stack: handler for " + string(method) + " registered twice")
	}
	mux.m[method] = h
}

// HandleFunc registers f for method.
func (mux *ServeMux) HandleFunc(method sip.Method, f func(context.Context, ResponseWriter, *sip.Request)) {
	mux.Handle(method, HandlerFunc(f))
}

// Allow returns the methods with a handler, sorted, as an Allow header
// value would list them.
func (mux *ServeMux) Allow() []sip.Method {
	mux.mu.RLock()
	defer mux.mu.RUnlock()
	out := make([]sip.Method, 0, len(mux.m))
	for m := range mux.m {
		if m != "" {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ServeSIP dispatches r to the handler for its method.
func (mux *ServeMux) ServeSIP(ctx context.Context, w ResponseWriter, r *sip.Request) {
	mux.mu.RLock()
	h, ok := mux.m[r.Method]
	if !ok {
		h, ok = mux.m[""]
	}
	mux.mu.RUnlock()
	if ok {
		h.ServeSIP(ctx, w, r)
		return
	}
	if r.Method == sip.ACK {
		return // an ACK is never answered (§17.2.3)
	}
	// §8.2.1: "the UAS SHOULD generate a 405 (Method Not Allowed) response
	// ... The UAS MUST also add an Allow header field to the 405".
	res := sip.NewResponse(r, sip.StatusMethodNotAllowed)
	methods := mux.Allow()
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = string(m)
	}
	_ = res.Add(string(sip.HeaderAllow), strings.Join(names, ", "))
	_ = w.Respond(res)
}
