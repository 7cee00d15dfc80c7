package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// Server serves SIP requests with a [Handler]: it owns a transport layer
// and a transaction layer, and calls the handler once per server
// transaction. The zero value is a valid configuration; set fields before
// the first Listen.
//
// A Server is also the place a [Client] sends from when requests and
// responses must share its listening addresses (a user agent or a proxy).
type Server struct {
	// Handler answers requests; nil means an empty [ServeMux], which
	// answers every request 405 Method Not Allowed.
	Handler Handler
	// OnAck receives ACKs for 2xx responses, which belong to no
	// transaction (RFC 3261 §13.3.1.4, §17.1.1.3); nil drops them.
	OnAck func(ack *sip.Request, flow transport.Flow)
	// OnResponse receives responses that match no client transaction, as a
	// proxy must forward them statelessly (§16.7, RFC 6026 §8.4); nil
	// drops them.
	OnResponse func(res *sip.Response, flow transport.Flow)
	// Timers are the transaction timers; zero means the RFC defaults.
	Timers transaction.Timers
	// Limits bound what one peer can make the transport hold.
	Limits transport.Limits
	// TLSConfig serves TLS and WSS listeners; ClientTLSConfig is used for
	// outgoing TLS and WSS connections (nil: system roots).
	TLSConfig, ClientTLSConfig *tls.Config
	// Resolver locates servers (RFC 3263): for a Client using this Server,
	// and for responses to a sent-by host name (§5). Nil means a zero
	// resolve.Resolver, which reads /etc/resolv.conf.
	Resolver *resolve.Resolver
	// Logger receives the server's records; nil discards them.
	Logger *slog.Logger
	// Tap, if set, sees every message sent and received (see
	// transport.Layer.Tap); it must not block.
	Tap func(transport.TapEvent)

	once   sync.Once
	tp     *transport.Layer
	tx     *transaction.Layer
	log    *slog.Logger
	closed atomic.Bool
	done   chan struct{}  // closed by Shutdown and Close
	wg     sync.WaitGroup // running handlers

	mu       sync.Mutex
	inflight *serving                           // running handlers, linked by next and prev
	invites  map[*transaction.ServerTx]*serving // the INVITEs among them, which a CANCEL finds

	work chan *serving // to idle workers (unbuffered)
	idle atomic.Int32  // idle workers

	panics atomic.Uint64
}

func (s *Server) init() {
	s.once.Do(func() {
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		if s.Resolver == nil {
			s.Resolver = &resolve.Resolver{}
		}
		s.invites = make(map[*transaction.ServerTx]*serving)
		s.done = make(chan struct{})
		s.work = make(chan *serving)
		s.tp = &transport.Layer{
			Limits:          s.Limits,
			TLSConfig:       s.TLSConfig,
			ClientTLSConfig: s.ClientTLSConfig,
			Logger:          s.Logger,
			ResolveSentBy:   s.resolveSentBy,
			Tap:             s.Tap,
		}
		s.tx = transaction.NewLayer(s.tp, transaction.Config{
			Timers:          s.Timers,
			OnRequest:       s.serve,
			OnAck:           s.onAck,
			OnCancel:        s.onCancel,
			OnStrayResponse: s.onStray,
		})
		s.tp.Handler = s.tx.HandleIncoming
	})
}

// resolveSentBy is RFC 3263 §5 for responses to a sent-by host name.
func (s *Server) resolveSentBy(ctx context.Context, host string, port uint16, n transport.Network) ([]netip.AddrPort, error) {
	ts, err := s.Resolver.LookupResponse(ctx, host, port, n)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Addr)
	}
	return out, nil
}

// ErrServerClosed is returned by ListenAndServe after Shutdown or Close.
var ErrServerClosed = errors.New("stack: server closed")

// Listen starts listening on addr ("127.0.0.1:5060", "[::1]:0") with the
// given transport and returns at once. Call it once per listener; the
// Server serves them all.
func (s *Server) Listen(ctx context.Context, n transport.Network, addr string) (transport.Listener, error) {
	if s.closed.Load() {
		return nil, ErrServerClosed
	}
	s.init()
	return s.tp.Listen(ctx, n, addr)
}

// ListenAndServe listens on addr and blocks until the Server is shut
// down, then returns [ErrServerClosed].
func (s *Server) ListenAndServe(ctx context.Context, n transport.Network, addr string) error {
	if _, err := s.Listen(ctx, n, addr); err != nil {
		return err
	}
	<-s.done
	return ErrServerClosed
}

// Serve serves a stream listener (TCP, TLS, WS or WSS) created by the
// caller, e.g. for socket activation. It returns at once.
func (s *Server) Serve(n transport.Network, ln net.Listener) (transport.Listener, error) {
	s.init()
	return s.tp.Serve(n, ln)
}

// ServePacket serves a UDP socket created by the caller. It returns at once.
func (s *Server) ServePacket(pc net.PacketConn) (transport.Listener, error) {
	s.init()
	return s.tp.ServePacket(pc)
}

// Transport returns the Server's transport layer (for stateless sending,
// §16.11, and for statistics).
func (s *Server) Transport() *transport.Layer { s.init(); return s.tp }

// Transactions returns the Server's transaction layer.
func (s *Server) Transactions() *transaction.Layer { s.init(); return s.tx }

// Panics returns how many handler panics the Server has recovered.
func (s *Server) Panics() uint64 { return s.panics.Load() }

// Shutdown lets running handlers finish until ctx ends (then cancels
// their contexts with cause ErrServerClosed), terminates the remaining
// transactions — they would only absorb retransmissions — and shuts the
// transport down gracefully. It returns ctx.Err() if ctx ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.markClosed()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for sv := s.inflight; sv != nil; sv = sv.next {
			sv.ctx.stop(ErrServerClosed)
		}
		s.mu.Unlock()
	}
	// Every handler has answered: what transactions remain only absorb
	// retransmissions (Timers I, J, K, L) or wait for client answers, which
	// a server going down no longer needs.
	s.tx.Close()
	if e := s.tp.Shutdown(ctx); err == nil {
		err = e
	}
	return err
}

// Close closes everything at once.
func (s *Server) Close() error {
	s.init()
	s.markClosed()
	s.mu.Lock()
	for sv := s.inflight; sv != nil; sv = sv.next {
		sv.ctx.stop(ErrServerClosed)
	}
	s.mu.Unlock()
	s.tx.Close()
	return s.tp.Close()
}

func (s *Server) markClosed() {
	// Under mu, so that no handler is added (wg.Add) once Shutdown waits.
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed.Swap(true) {
		close(s.done)
	}
}

func (s *Server) onAck(ack *sip.Request, flow transport.Flow) {
	if s.OnAck != nil {
		s.OnAck(ack, flow)
	}
}

func (s *Server) onStray(res *sip.Response, flow transport.Flow) {
	if s.OnResponse != nil {
		s.OnResponse(res, flow)
	}
}

// onCancel implements §9.2: "the UAS ... SHOULD respond to the CANCEL with
// a 200 (OK)"; a CANCEL matching no transaction gets 481. The INVITE's
// handler sees its ctx cancelled with cause *CancelError (ErrCanceled) and, if it returns
// without a final response, the INVITE is answered 487.
func (s *Server) onCancel(cancel, invite *transaction.ServerTx) {
	// cancel's own transaction is answered here; invite's by its handler.
	ctx := context.Background()
	if invite == nil {
		_ = cancel.Respond(ctx, sip.NewResponse(cancel.Request(), sip.StatusCallTransactionDoesNotExist))
		return
	}
	// The request first: a completed non-INVITE transaction may release it.
	req := cancel.Request()
	_ = cancel.Respond(ctx, sip.NewResponse(req, sip.StatusOK))
	s.mu.Lock()
	sv := s.invites[invite]
	s.mu.Unlock()
	if sv != nil {
		sv.ctx.stop(&CancelError{Request: req})
	}
}

// serving is what the Server keeps for one running handler: its context
// and its ResponseWriter, in one allocation.
type serving struct {
	s          *Server
	tx         *transaction.ServerTx
	ctx        handlerCtx
	w          responseWriter
	invite     bool     // in s.invites
	next, prev *serving // in s.inflight; owned by s.mu
}

// add puts sv in the list of running handlers (a list rather than a map:
// no hashing, no growth), and an INVITE's in the index CANCELs use.
// Caller holds s.mu.
func (s *Server) add(sv *serving) {
	sv.next = s.inflight
	if sv.next != nil {
		sv.next.prev = sv
	}
	s.inflight = sv
	if sv.invite {
		s.invites[sv.tx] = sv
	}
}

// remove takes sv out of the running handlers. Caller holds s.mu.
func (s *Server) remove(sv *serving) {
	if sv.prev != nil {
		sv.prev.next = sv.next
	} else {
		s.inflight = sv.next
	}
	if sv.next != nil {
		sv.next.prev = sv.prev
	}
	sv.next, sv.prev = nil, nil
	if sv.invite {
		delete(s.invites, sv.tx)
	}
}

// serve runs the handler for one server transaction on a goroutine of its
// own: an idle worker's if there is one, else a new one.
func (s *Server) serve(tx *transaction.ServerTx, req *sip.Request) {
	sv := &serving{s: s, tx: tx, invite: req.Method == sip.INVITE}
	sv.ctx.tx = tx
	sv.w.tx = tx
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = tx.Respond(context.Background(), sip.NewResponse(tx.Request(), sip.StatusServiceUnavailable))
		return
	}
	s.add(sv)
	s.wg.Add(1)
	s.mu.Unlock()
	select {
	case s.work <- sv:
	default:
		go s.worker(sv)
	}
}

// maxIdleWorkers bounds the goroutines kept waiting for the next request.
const maxIdleWorkers = 256

// worker runs sv's handler, then waits for the next request, and so on.
// Workers are reused because a goroutine that has run a handler has the
// stack it needs (sending a response goes deep): a new goroutine per
// request would copy its stack to grow it, every time. At most
// maxIdleWorkers wait; all leave when the Server is shut down.
func (s *Server) worker(sv *serving) {
	for {
		sv.run()
		if s.idle.Add(1) > maxIdleWorkers {
			s.idle.Add(-1)
			return
		}
		select {
		case sv = <-s.work:
			s.idle.Add(-1)
		case <-s.done:
			s.idle.Add(-1)
			return
		}
	}
}

// run calls the handler with panic recovery and sends the final response
// the handler did not send.
func (sv *serving) run() {
	s, tx := sv.s, sv.tx
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.remove(sv)
		s.mu.Unlock()
		// As in net/http, the context ends when the handler returns.
		sv.ctx.stop(context.Canceled)
	}()
	req := tx.Request()
	h := s.Handler
	if h == nil {
		h = &ServeMux{}
	}
	defer func() {
		if p := recover(); p != nil {
			s.panics.Add(1)
			if p != ErrAbortHandler {
				s.log.Error("stack: handler panic", "method", string(req.Method), "call_id", req.CallID(), "panic", p)
			}
		}
		if sv.w.Responded() || req.Method == sip.ACK {
			return
		}
		code := sip.StatusServerInternalError
		if errors.Is(sv.ctx.cause(), ErrCanceled) && req.Method == sip.INVITE {
			code = sip.StatusRequestTerminated // §9.2
		}
		_ = tx.Respond(context.Background(), sip.NewResponse(req, code))
	}()
	h.ServeSIP(&sv.ctx, &sv.w, req)
}

// handlerCtx is a handler's context. It costs nothing until the handler
// uses it: the first call to Done, Err or Value makes the real context (a
// context.WithCancelCause) and asks the transaction to cancel it when it
// terminates (ServerTx.AfterTerminate, no goroutine). A cancellation that
// comes before — a CANCEL, the handler's return, Server.Close — is
// remembered and applied when the context is made. Its cause is thus
// always the first of: ErrCanceled (a CANCEL, §9.2), ErrServerClosed,
// transaction.ErrTerminated, context.Canceled (the handler returned).
//
// Value delegates to the real context, so context.Cause works on it and
// contexts derived from it attach to it directly (no goroutine).
type handlerCtx struct {
	tx *transaction.ServerTx

	mu       sync.Mutex
	inner    context.Context // nil until first used
	cancel   context.CancelCauseFunc
	canceled error // cause recorded while inner is nil
}

// get returns the real context, making it on first use.
func (c *handlerCtx) get() context.Context {
	c.mu.Lock()
	if c.inner != nil {
		inner := c.inner
		c.mu.Unlock()
		return inner
	}
	inner, cancel := context.WithCancelCause(context.Background())
	c.inner, c.cancel = inner, cancel
	cause := c.canceled
	c.mu.Unlock()
	if cause != nil {
		cancel(cause)
	} else {
		// cancel takes only the context's own lock: safe to call with
		// the transaction's lock held.
		c.tx.AfterTerminate(func() { cancel(transaction.ErrTerminated) })
	}
	return inner
}

// stop cancels the context with cause (the first cause wins).
func (c *handlerCtx) stop(cause error) {
	if cause == context.Canceled && c.tx.State() == transaction.StateTerminated {
		// The handler returns after its transaction ended: had the
		// context been made, the end would have cancelled it first.
		cause = transaction.ErrTerminated
	}
	c.mu.Lock()
	if c.inner == nil {
		if c.canceled == nil {
			c.canceled = cause
		}
		c.mu.Unlock()
		return
	}
	cancel := c.cancel
	c.mu.Unlock()
	cancel(cause)
}

// cause returns the cancellation cause without making the context.
func (c *handlerCtx) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner != nil {
		return context.Cause(c.inner)
	}
	return c.canceled
}

func (c *handlerCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *handlerCtx) Done() <-chan struct{}       { return c.get().Done() }
func (c *handlerCtx) Err() error                  { return c.get().Err() }
func (c *handlerCtx) Value(key any) any           { return c.get().Value(key) }
func (c *handlerCtx) String() string              { return "stack.handlerContext" }

// responseWriter is the ResponseWriter of one server transaction.
type responseWriter struct {
	tx *transaction.ServerTx
}

func (w *responseWriter) Respond(res *sip.Response) error {
	return w.tx.Respond(context.Background(), res)
}

func (w *responseWriter) Responded() bool { return w.tx.Responded() }

// Flow returns the flow the request arrived on.
func (w *responseWriter) Flow() transport.Flow { return w.tx.Flow() }

// Transaction returns the server transaction.
func (w *responseWriter) Transaction() *transaction.ServerTx { return w.tx }

// FlowWriter is implemented by the Server's ResponseWriter: Flow returns
// the flow the request arrived on (RFC 5626: a registrar records it to
// reach the UA over the same connection).
type FlowWriter interface {
	Flow() transport.Flow
}

// TxWriter is implemented by the Server's ResponseWriter and gives the
// server transaction, for layers (dialogs, proxies) that need it.
type TxWriter interface {
	Transaction() *transaction.ServerTx
}
