package ua

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// DefaultMaxMessageSize is the largest MESSAGE body accepted when
// UA.MaxMessageSize is zero: RFC 3428 §8 limits MESSAGE requests over
// transports without congestion control to 1300 bytes.
const DefaultMaxMessageSize = 1300

// UA is a user agent core with sessions (RFC 3261 §12–§15): it places and
// answers calls as [Session]s — each one the INVITE usage of a dialog (RFC
// 5057) — and handles the requests within them (BYE, re-INVITE, PRACK,
// UPDATE, INFO, MESSAGE) and out of dialog (MESSAGE, OPTIONS). Set the
// fields, call Attach before the Server listens, and Close at the end.
type UA struct {
	// Server receives requests; Client (nil: one on Server) sends them.
	Server *stack.Server
	Client *stack.Client
	// Identity is who the UA is; its Contact must be reachable (it is the
	// remote target the peer sends in-dialog requests to).
	Identity Identity
	// Capabilities is the registry Allow, Supported, Accept and Recv-Info
	// are built from and the §8.2 checks use; nil means a new one. Attach
	// registers every method and option tag the UA implements in it.
	Capabilities *Capabilities
	// Timers gives T1 and T2 for the 2xx and reliable provisional
	// retransmissions (zero: the RFC defaults).
	Timers transaction.Timers
	// MaxMessageSize is the largest MESSAGE body accepted (413 above it,
	// RFC 3428 §7) and sent; zero means DefaultMaxMessageSize.
	MaxMessageSize int
	// Disable100rel leaves RFC 3262 out: 100rel is not in Supported, a
	// request requiring it gets 420, provisionals are never reliable.
	Disable100rel bool

	// OnInvite is called, on its own goroutine, with each new incoming
	// call. It answers with s.Progress, s.Accept or s.Reject, then or
	// later from any goroutine; ctx ends when the caller cancels (§9.2).
	// Nil means every call is refused with 480.
	OnInvite func(ctx context.Context, s *Session)
	// OnMessage receives MESSAGE requests (RFC 3428), s being nil outside
	// a dialog, and returns the final status; nil accepts with 200.
	OnMessage func(ctx context.Context, s *Session, req *sip.Request) sip.StatusCode
	// OnInfo receives INFO requests (RFC 6086) of registered Info Packages
	// (or without Info-Package, the legacy use) and returns the status;
	// nil accepts with 200. Register the packages with
	// Caps().AddInfoPackages and their body types with Caps().AddAccept
	// (others get 415 from Validate).
	OnInfo func(ctx context.Context, s *Session, req *sip.Request) sip.StatusCode

	once     sync.Once
	ctx      context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	bgMu     sync.Mutex // orders wg.Add before Close's Wait
	closed   bool
	dialogs  dialog.Registry
	extra    map[sip.Method]stack.Handler
	mu       sync.Mutex
	sessions map[dialog.ID]*Session
}

// usageInvite names the INVITE usage of a dialog (RFC 5057).
const usageInvite = "invite"

func (u *UA) init() {
	u.once.Do(func() {
		u.ctx, u.stop = context.WithCancel(context.Background())
		u.sessions = make(map[dialog.ID]*Session)
		if u.Client == nil {
			u.Client = &stack.Client{Server: u.Server}
		}
		if u.Capabilities == nil {
			u.Capabilities = &Capabilities{}
		}
		c := u.Capabilities
		c.AddMethods(sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS, sip.PRACK, sip.UPDATE, sip.INFO, sip.MESSAGE)
		if !u.Disable100rel {
			c.AddOptionTags("100rel") // RFC 3262
		}
		c.AddAccept("application/sdp", "text/plain")
	})
}

// Caps returns the UA's capabilities registry, with what the UA itself
// implements registered.
func (u *UA) Caps() *Capabilities { u.init(); return u.Capabilities }

func (u *UA) maxMessage() int {
	if u.MaxMessageSize > 0 {
		return u.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Handler returns the UA's request handler: the §8.2 checks of [Validate]
// (OPTIONS answered from the registry) in front of the method handlers.
func (u *UA) Handler() stack.Handler {
	u.init()
	mux := &stack.ServeMux{}
	mux.HandleFunc(sip.INVITE, u.serveInvite)
	mux.HandleFunc(sip.BYE, u.serveBye)
	mux.HandleFunc(sip.PRACK, u.servePrack)
	mux.HandleFunc(sip.UPDATE, u.serveUpdate)
	mux.HandleFunc(sip.INFO, u.serveInfo)
	mux.HandleFunc(sip.MESSAGE, u.serveMessage)
	for m, h := range u.extra {
		mux.Handle(m, h)
	}
	return stack.Chain(mux, Validate(u.Capabilities, u.Server.Transactions()))
}

// Handle adds a handler for a method the UA core does not implement
// itself (SUBSCRIBE, NOTIFY, REFER… — further usages of its dialogs, RFC
// 5057) and registers the method in the capabilities (Allow). Call it
// before Handler or Attach; a method handled twice panics, as in
// stack.ServeMux.
func (u *UA) Handle(m sip.Method, h stack.Handler) {
	u.init()
	if u.extra == nil {
		u.extra = make(map[sip.Method]stack.Handler)
	}
	u.extra[m] = h
	u.Capabilities.AddMethods(m)
}

// Dialogs returns the registry of the UA's dialogs, early ones included;
// other usages find the dialog of a request here.
func (u *UA) Dialogs() *dialog.Registry { u.init(); return &u.dialogs }

// Attach installs Handler and the ACK receiver on the Server.
func (u *UA) Attach() {
	u.Server.Handler = u.Handler()
	u.Server.OnAck = u.onAck
}

// Close ends the UA's background work (2xx and provisional
// retransmissions, pending BYEs) and waits for it. Sessions are not hung
// up; do that first.
func (u *UA) Close() {
	u.init()
	u.bgMu.Lock()
	u.closed = true
	u.bgMu.Unlock()
	u.stop()
	u.mu.Lock()
	var ss []*Session
	for _, s := range u.sessions {
		ss = append(ss, s)
	}
	u.mu.Unlock()
	for _, s := range ss {
		s.stopAwaits()
	}
	u.wg.Wait()
}

// goBackground runs f on a goroutine Close waits for; after Close it does
// nothing.
func (u *UA) goBackground(f func(ctx context.Context)) {
	u.bgMu.Lock()
	defer u.bgMu.Unlock()
	if u.closed {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		f(u.ctx)
	}()
}

func (u *UA) track(s *Session, d *dialog.Dialog) {
	d.AddUsage(usageInvite)
	u.dialogs.Add(d)
	u.mu.Lock()
	u.sessions[d.ID()] = s
	u.mu.Unlock()
}

func (u *UA) forget(d *dialog.Dialog) {
	if d.RemoveUsage(usageInvite) {
		u.dialogs.Remove(d.ID())
	}
	u.mu.Lock()
	delete(u.sessions, d.ID())
	u.mu.Unlock()
}

// Sessions returns the number of dialogs with a live session.
func (u *UA) Sessions() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.sessions)
}

// lookup finds the session and dialog of a request with a To tag; a
// request that matches none gets 481 (§12.2.2: "If the UAS receives a
// request with a To tag that does not match any existing dialog, it
// SHOULD return a 481").
func (u *UA) lookup(w stack.ResponseWriter, req *sip.Request) (*Session, *dialog.Dialog) {
	d, ok := u.dialogs.ForRequest(req)
	var s *Session
	if ok {
		u.mu.Lock()
		s = u.sessions[d.ID()]
		u.mu.Unlock()
	}
	if s == nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist))
		return nil, nil
	}
	// §12.2.2: the CSeq check ("MUST be rejected with a 500") and the
	// remote target refresh.
	if err := d.ReceiveRequest(req); err != nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return nil, nil
	}
	return s, d
}

// retryAfter answers 500 with a Retry-After "randomly chosen between 0 and
// 10 seconds" (RFC 3261 §14.2, RFC 3311 §5.2).
func retryAfter(req *sip.Request) *sip.Response {
	res := sip.NewResponse(req, sip.StatusServerInternalError)
	_ = res.Add(string(sip.HeaderRetryAfter), strconv.Itoa(rand.IntN(11)))
	return res
}

func (u *UA) onAck(ack *sip.Request, _ transport.Flow) {
	d, ok := u.dialogs.ForRequest(ack)
	if !ok || d.ReceiveRequest(ack) != nil {
		return
	}
	u.mu.Lock()
	s := u.sessions[d.ID()]
	u.mu.Unlock()
	if s != nil {
		s.receiveAck(ack)
	}
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
