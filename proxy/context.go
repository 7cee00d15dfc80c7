package proxy

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// respContext is the response context of §16.7 for one server transaction.
type respContext struct {
	p     *Proxy
	w     stack.ResponseWriter
	req   *sip.Request // as received: the server transaction's
	in    *sip.Request // after §16.4
	loop  string
	route bool
	inNet transport.Network // the transport the request arrived on
	base  context.Context   // the handler's values, without its cancellation
	done  chan *branch      // branches report here once, buffered for all

	mu        sync.Mutex
	finalSent bool
	stopNew   bool // a 6xx arrived or the request was cancelled
	canceled  bool // CANCEL from upstream (§16.10)
	finals    []*sip.Response
	pending   []*branch
}

// branch is one client transaction of the response context.
type branch struct {
	t      Target
	req    *sip.Request
	id     string
	strict bool             // reformatted for a strict router (§16.6 step 6)
	dest   *transport.Dest  // the target's own next hop
	dests  []transport.Dest // or the next hops the proxy resolved, in order
	hopErr error            // resolving the next hop failed
	cancel context.CancelCauseFunc
	timerC *time.Timer // INVITE only
	timedC bool        // Timer C fired; under respContext.mu
}

func (rc *respContext) invite() bool { return rc.req.Method == sip.INVITE }

// run forks the groups of targets one after the other and answers the
// server transaction. It returns once a final response has been sent;
// branches still pending finish in the background (their 2xx responses are
// forwarded statelessly).
func (rc *respContext) run(ctx context.Context, groups [][]Target) {
	if rc.invite() {
		// §16.10: "a stateful proxy ... MUST cancel all pending client
		// transactions" when the request is cancelled; the stack cancels
		// ctx then (and when the transaction ends, after our final).
		// The CANCEL's Reason (RFC 3326) goes on in ours, as Kamailio's
		// tm does (e2e_cancel_reason).
		stop := context.AfterFunc(ctx, func() {
			var reasons []string
			if ce := (*stack.CancelError)(nil); errors.As(context.Cause(ctx), &ce) {
				reasons = ce.CancelReason()
			}
			rc.cancelAll(stack.WithCancelReason(ErrUpstreamCancel, reasons...), true)
		})
		defer stop()
	}
	for _, g := range groups {
		rc.mu.Lock()
		stopped := rc.stopNew || rc.finalSent
		rc.mu.Unlock()
		if stopped {
			break
		}
		// A lone target (the common case) runs on this goroutine: no new
		// goroutine and stack per forwarded request.
		inline := len(groups) == 1 && len(g) == 1
		for n := rc.startGroup(g, inline); n > 0; n-- {
			<-rc.done
			rc.mu.Lock()
			sent := rc.finalSent
			rc.mu.Unlock()
			if sent {
				return
			}
		}
	}
	rc.finish()
}

// startGroup creates the branches of a group of targets of equal q
// (§16.6) and runs them, on goroutines of their own unless inline, and
// returns how many it started. Every branch of the group is created
// before any is registered or sent, and they are registered together: a
// 2xx on the first one cannot end the search before the others are
// started. That is what a parallel search is (§6, Definitions: it
// "issues requests without waiting for the result of previous
// requests"; §16.6: "It MAY start client transactions with every target
// in parallel"); §16.7 step 10 then cancels the ones still pending.
func (rc *respContext) startGroup(g []Target, inline bool) int {
	type started struct {
		ctx context.Context
		b   *branch
	}
	var buf [4]started
	bs := buf[:0]
	for _, t := range g {
		ctx, b := rc.prepare(t)
		bs = append(bs, started{ctx, b})
	}
	rc.mu.Lock()
	if rc.stopNew || rc.finalSent {
		rc.mu.Unlock()
		for _, s := range bs {
			s.b.cancel(nil)
		}
		return 0
	}
	for _, s := range bs {
		b := s.b
		rc.pending = append(rc.pending, b)
		if rc.invite() {
			// Step 11: "If the request is an INVITE, the proxy MUST set
			// Timer C" (§16.8 on expiry).
			b.timerC = time.AfterFunc(rc.p.timerC(), func() { rc.timerCFired(b) })
		}
	}
	rc.mu.Unlock()
	for _, s := range bs {
		if inline {
			rc.runBranch(s.ctx, s.b) // reports on rc.done, buffered for every branch
		} else {
			go rc.runBranch(s.ctx, s.b)
		}
	}
	return len(bs)
}

// prepare creates the branch for t: §16.6 steps 1–9 on its copy of the
// request.
func (rc *respContext) prepare(t Target) (context.Context, *branch) {
	p := rc.p
	req, id, strict := p.forwardCopy(rc.in, t, rc.route, rc.loop)
	ctx, cancel := context.WithCancelCause(rc.base)
	b := &branch{t: t, req: req, id: id, strict: strict, cancel: cancel}
	// §16.6 step 7, then step 4 (Record-Route) once the outgoing
	// transport is known.
	out := transport.Unknown
	if t.Dest != nil {
		b.dest, out = t.Dest, t.Dest.Network
	} else if strict || p.bridging() {
		if ds, ok, err := p.nextHop(ctx, req, strict, true); err != nil {
			b.hopErr = err
		} else if ok {
			b.dests, out = ds, ds[0].Network
		}
	}
	p.addRecordRoute(req, rc.inNet, out)
	return ctx, b
}

func (rc *respContext) timerCFired(b *branch) {
	rc.mu.Lock()
	if b.timedC || !slices.Contains(rc.pending, b) {
		rc.mu.Unlock()
		return
	}
	b.timedC = true
	rc.mu.Unlock()
	// §16.8: "If the client transaction has received a provisional
	// response, the proxy MUST generate a CANCEL request matching that
	// transaction. If the client transaction has not received a
	// provisional response, the proxy MUST behave as if the transaction
	// received a 408" — stack.Client sends the CANCEL once a provisional
	// response has arrived; the branch counts as a 408 either way.
	rc.p.event(BranchEvent{Kind: BranchCancelled, Branch: b.id, Target: b.t, Request: b.req, Err: ErrTimerC})
	b.cancel(ErrTimerC)
}

// runBranch is §16.6 steps 7 and 10 and §16.7 for one branch.
func (rc *respContext) runBranch(ctx context.Context, b *branch) {
	p := rc.p
	opts := []stack.Option{
		stack.WithProvisional(func(res *sip.Response) { rc.provisional(b, res) }),
		stack.WithRetryBranch(retryBranch),
	}
	if rc.invite() {
		opts = append(opts, stack.WithAfterFinal(func(res *sip.Response) { rc.lateFinal(b, res) }))
	}
	var res *sip.Response
	var err error
	if b.hopErr != nil {
		err = errors.Join(stack.ErrTransport, b.hopErr)
	} else if b.dest != nil {
		opts = append(opts, stack.WithDest(*b.dest))
	} else if len(b.dests) > 0 {
		opts = append(opts, stack.WithDests(b.dests...))
	}
	p.event(BranchEvent{Kind: BranchForwarded, Branch: b.id, Target: b.t, Request: b.req})
	if err == nil {
		res, err = p.Client.Do(ctx, b.req, opts...)
	}
	if b.timerC != nil {
		b.timerC.Stop()
	}
	if res != nil {
		p.event(BranchEvent{Kind: BranchAnswered, Branch: b.id, Target: b.t, Request: b.req, Response: res})
	}
	rc.final(b, res, err, context.Cause(ctx) != nil)
}

// provisional is §16.7 for a 1xx on branch b.
func (rc *respContext) provisional(b *branch, res *sip.Response) {
	rc.p.event(BranchEvent{Kind: BranchProvisional, Branch: b.id, Target: b.t, Request: b.req, Response: res})
	if res.StatusCode == sip.StatusTrying {
		// Step 5: "any provisional response other than 100 (Trying)" is
		// forwarded; the server transaction sent its own 100.
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if b.timerC != nil && !b.timedC {
		// Step 2: "if the response is a provisional response with status
		// codes 101 to 199 inclusive ..., the proxy MUST reset timer C".
		b.timerC.Reset(rc.p.timerC())
	}
	if !rc.finalSent {
		// Step 5: "Until a final response has been sent on the server
		// transaction, the following responses MUST be forwarded
		// immediately: - Any provisional response other than 100".
		_ = rc.w.Respond(upstream(res))
	}
}

// lateFinal is a 2xx of an INVITE after the branch's first final: a
// retransmission or a 2xx of another fork downstream. "After a final
// response has been sent on the server transaction, the following
// responses MUST be forwarded immediately: - Any 2xx response to an
// INVITE request" (step 5), statelessly (RFC 6026 §7.1).
func (rc *respContext) lateFinal(b *branch, res *sip.Response) {
	rc.p.event(BranchEvent{Kind: BranchAnswered, Branch: b.id, Target: b.t, Request: b.req, Response: res})
	if !res.StatusCode.Success() {
		return
	}
	rc.forwardStateless(res)
}

func (rc *respContext) forwardStateless(res *sip.Response) {
	srv := rc.p.Client.Server
	if srv == nil {
		rc.p.log().Warn("proxy: no stack.Server to forward a 2xx statelessly", logCallID, res.CallID())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.ForwardResponseStateless(ctx, res.Clone()); err != nil {
		rc.p.log().Debug("proxy: forward 2xx", logCallID, res.CallID(), logError, err)
	}
}

// final puts the outcome of branch b into the response context (§16.7
// steps 4, 5 and 10; §16.8, §16.9).
func (rc *respContext) final(b *branch, res *sip.Response, err error, aborted bool) {
	p := rc.p
	var up *sip.Response // what counts, in upstream form
	rc.mu.Lock()
	timedC := b.timedC
	rc.mu.Unlock()
	switch {
	case res != nil && res.StatusCode.Success():
		up = upstream(res)
	case timedC:
		// §16.8: the branch ends as a 408, whatever the CANCEL produced.
		up = sip.NewResponse(rc.req, sip.StatusRequestTimeout)
	case res != nil:
		up = upstream(res)
	case errors.Is(err, stack.ErrTimeout):
		// §16.8 / §8.1.3.1: a timeout is handled as a 408.
		up = sip.NewResponse(rc.req, sip.StatusRequestTimeout)
	case aborted:
		// Cancelled before anything was sent or received: nothing counts.
	case err != nil:
		// §16.9: "If the transport layer notifies a proxy of an error when
		// it tries to forward a request, the proxy MUST behave as if the
		// forwarded request received a 503 (Service Unavailable) response."
		up = sip.NewResponse(rc.req, sip.StatusServiceUnavailable)
	}
	ev := BranchEvent{Kind: BranchEnded, Branch: b.id, Target: b.t, Request: b.req, Response: up, Err: err}
	if up != nil {
		ev.Status = up.StatusCode
	}
	if l := p.log(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("proxy: branch ended", logCallID, rc.req.CallID(), logMethod, string(rc.req.Method), logBranch, b.id, logStatus, int(ev.Status), logError, err)
	}

	var cancelled []*branch
	forward := false
	rc.mu.Lock()
	rc.pending = slices.DeleteFunc(rc.pending, func(x *branch) bool { return x == b })
	why := ErrAnswered
	switch {
	case up != nil && up.StatusCode.Success():
		if !rc.finalSent {
			// Step 5: "Any 2xx response" is forwarded immediately.
			rc.finalSent = true
			_ = rc.w.Respond(up)
			// Step 10: "If the forwarded response was a final response,
			// the proxy MUST generate a CANCEL request for all pending
			// client transactions associated with this response context."
			cancelled = rc.takePendingLocked()
			// RFC 3326 §2's own example: the callee's phones stop
			// ringing without showing a missed call.
			why = stack.WithCancelReason(ErrAnswered, reasonValue(up.StatusCode, "Call completed elsewhere"))
		} else if rc.invite() {
			forward = true
		}
	case up != nil && up.StatusCode.Class() == 6:
		// Step 5: "If a 6xx response is received, it is not immediately
		// forwarded, but the stateful proxy SHOULD cancel all client
		// pending transactions ..., and it MUST NOT create any new
		// branches in this context."
		rc.stopNew = true
		rc.finals = append(rc.finals, up)
		cancelled = rc.takePendingLocked()
		why = stack.WithCancelReason(ErrAnswered, reasonValue(up.StatusCode, up.Reason))
	case up != nil:
		rc.finals = append(rc.finals, up)
	}
	rc.mu.Unlock()
	if forward {
		rc.forwardStateless(res)
	}
	rc.cancelBranches(cancelled, why)
	p.event(ev)
	rc.done <- b
}

// takePendingLocked returns the pending branches to cancel. Only INVITE
// branches are cancelled (§9.1: CANCEL is for INVITE); the others run to
// their end and are ignored.
func (rc *respContext) takePendingLocked() []*branch {
	if !rc.invite() {
		return nil
	}
	return slices.Clone(rc.pending)
}

func (rc *respContext) cancelBranches(bs []*branch, why error) {
	for _, b := range bs {
		rc.p.event(BranchEvent{Kind: BranchCancelled, Branch: b.id, Target: b.t, Request: b.req, Err: why})
		b.cancel(why)
	}
}

// cancelAll is §16.10 when the request is cancelled upstream.
func (rc *respContext) cancelAll(why error, upstream bool) {
	rc.mu.Lock()
	if rc.finalSent {
		rc.mu.Unlock()
		return
	}
	rc.stopNew = true
	rc.canceled = rc.canceled || upstream
	bs := slices.Clone(rc.pending)
	rc.mu.Unlock()
	rc.cancelBranches(bs, why)
}

// finish is §16.7 steps 6–9 once every branch has ended.
func (rc *respContext) finish() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.finalSent {
		return
	}
	var res *sip.Response
	if rc.canceled {
		// §16.10 / §9.2: the cancelled INVITE is answered 487.
		res = sip.NewResponse(rc.req, sip.StatusRequestTerminated)
	} else if res = best(rc.finals); res == nil {
		// Step 6: "If there are no final responses in the context, the
		// proxy MUST send a 408 (Request Timeout) response".
		res = sip.NewResponse(rc.req, sip.StatusRequestTimeout)
	}
	rc.finalSent = true
	_ = rc.w.Respond(res)
}

// best is §16.7 steps 6 and 7: it chooses the response to forward among
// the final responses of the context and returns a copy, or nil.
func best(finals []*sip.Response) *sip.Response {
	var chosen *sip.Response
	for _, r := range finals {
		// "A proxy SHOULD give preference to ... 6xx" over the rest.
		if r.StatusCode.Class() == 6 {
			chosen = r
			break
		}
	}
	if chosen == nil {
		// "the proxy SHOULD choose from the lowest response class stored
		// in the response context ... The proxy SHOULD give preference to
		// responses that provide information affecting resubmission of
		// this request, such as 401, 407, 415, 420, and 484 if the 4xx
		// class is chosen."
		rank := func(r *sip.Response) int {
			n := r.StatusCode.Class() * 2
			switch r.StatusCode {
			case 401, 407, 415, 420, 484:
			default:
				n++
			}
			return n
		}
		for _, r := range finals {
			if chosen == nil || rank(r) < rank(chosen) {
				chosen = r
			}
		}
	}
	if chosen == nil {
		return nil
	}
	res := chosen.Clone()
	// "If the proxy forwards a 503 ... it MUST convert it to a 500".
	if res.StatusCode == sip.StatusServiceUnavailable {
		res.StatusCode = sip.StatusServerInternalError
		res.Reason = sip.StatusText(sip.StatusServerInternalError)
	}
	// Step 7: "If the selected response is a 401 (Unauthorized) or 407
	// (Proxy Authentication Required), the proxy MUST collect all
	// WWW-Authenticate and Proxy-Authenticate header field values from all
	// other 401 (Unauthorized) and 407 (Proxy Authentication Required)
	// responses received so far in this response context and add them to
	// this response without modification before forwarding."
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthenticationRequired {
		for _, r := range finals {
			if r == chosen || r.StatusCode != sip.StatusUnauthorized && r.StatusCode != sip.StatusProxyAuthenticationRequired {
				continue
			}
			for _, name := range []sip.HeaderName{sip.HeaderWWWAuthenticate, sip.HeaderProxyAuthenticate} {
				for v := range r.Values(string(name)) {
					_ = res.Add(string(name), v)
				}
			}
		}
	}
	return res
}

// retryBranch is the branch of a request sent again to the next address of
// the same target (RFC 3263 failover): new, but with the loop-detection
// part of prev kept (§16.6 step 8), so that a loop is still recognised.
func retryBranch(prev string) string {
	if ourBranch(prev) {
		return sip.NewBranch() + prev[strings.LastIndex(prev, loopSep):]
	}
	return sip.NewBranch()
}

// reasonValue is a Reason header field value (RFC 3326 §2) for a SIP
// status, e.g. `SIP;cause=600;text="Busy Everywhere"`.
func reasonValue(code sip.StatusCode, text string) string {
	b := strconv.AppendInt([]byte("SIP;cause="), int64(code), 10)
	b = append(b, ";text="...)
	return string(abnf.AppendQuoted(b, text))
}
