package proxy

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// loopSep separates the unique part of this proxy's branch parameters from
// the loop-detection part (§16.6 step 8).
const loopSep = "."

// loopHashLen is the length of the loop-detection part, in hex digits.
const loopHashLen = 24

// Log attribute keys (DESIGN.md: "Attribute keys are constants"); every
// record about a request carries logCallID.
const (
	logCallID = "call_id"
	logBranch = "branch"
	logMethod = "method"
	logStatus = "status"
	logRemote = "remote"
	logError  = "error"
)

// DefaultTimerC is Timer C when Proxy.TimerC is zero: §16.6 step 11 says
// it "MUST be set to be larger than 3 minutes".
const DefaultTimerC = 3*time.Minute + time.Second

// Target is one element of a target set (RFC 3261 §16.5).
type Target struct {
	// URI becomes the Request-URI of the forwarded request (§16.6 step 2).
	URI sip.URI
	// Q is the target's preference in thousandths (q=0.5 is 500); in
	// sequential forking higher values are tried first (§16.6).
	Q int
	// Path is a route set to prepend to the forwarded request as Route
	// values, in order (a binding's Path, RFC 3327 §5.3; §16.6 step 6).
	Path []sip.NameAddr
	// Dest, if set, is where the request is sent instead of resolving the
	// next hop: for instance the flow of an outbound binding (RFC 5626 §5.3).
	Dest *transport.Dest
}

// Router computes the target set of a request (§16.5).
type Router interface {
	// Targets returns the targets of req. With no target it returns the
	// status to answer with (404, 480, 403…); an error is answered 500.
	Targets(ctx context.Context, req *sip.Request) ([]Target, sip.StatusCode, error)
}

// RouterFunc adapts a function to [Router].
type RouterFunc func(ctx context.Context, req *sip.Request) ([]Target, sip.StatusCode, error)

// Targets calls f(ctx, req).
func (f RouterFunc) Targets(ctx context.Context, req *sip.Request) ([]Target, sip.StatusCode, error) {
	return f(ctx, req)
}

// BranchEventKind says what happened to a branch.
type BranchEventKind uint8

// The kinds of [BranchEvent].
const (
	// BranchForwarded: the request was handed to a client transaction.
	BranchForwarded BranchEventKind = iota + 1
	// BranchProvisional: a provisional response arrived (100 included).
	BranchProvisional
	// BranchAnswered: a final response arrived (also for later 2xx of an
	// INVITE, from forks further down or retransmissions).
	BranchAnswered
	// BranchCancelled: the proxy cancelled the branch (a 2xx or 6xx on
	// another branch, a CANCEL from upstream, Timer C).
	BranchCancelled
	// BranchEnded: the branch's client transaction gave its outcome to the
	// response context; Status is what counted (synthesised for errors).
	BranchEnded
)

// String returns the kind's name.
func (k BranchEventKind) String() string {
	switch k {
	case BranchForwarded:
		return "forwarded"
	case BranchProvisional:
		return "provisional"
	case BranchAnswered:
		return "answered"
	case BranchCancelled:
		return "cancelled"
	case BranchEnded:
		return "ended"
	}
	return "BranchEventKind(" + strconv.Itoa(int(k)) + ")"
}

// BranchEvent reports one step of one branch to [Proxy.OnBranch]. Its
// messages are shared: the hook must not modify them.
type BranchEvent struct {
	// Kind says what happened.
	Kind BranchEventKind
	// Branch is the branch parameter of the proxy's Via on this branch.
	Branch string
	// Target is the target of the branch.
	Target Target
	// Request is the forwarded request.
	Request *sip.Request
	// Response is the response received (Provisional, Answered) or the one
	// that counted (Ended; nil when none did).
	Response *sip.Response
	// Status is the status that counted for an Ended branch (0 when none).
	Status sip.StatusCode
	// Err is the client transaction's error, or the reason of a
	// cancellation.
	Err error
}

// Reasons a branch is cancelled, reported in BranchEvent.Err.
var (
	// ErrTimerC: Timer C fired (§16.8).
	ErrTimerC = errors.New("proxy: Timer C expired")
	// ErrAnswered: another branch returned a 2xx or 6xx (§16.7 step 10).
	ErrAnswered = errors.New("proxy: answered on another branch")
	// ErrUpstreamCancel: the request was cancelled upstream (§16.10).
	ErrUpstreamCancel = errors.New("proxy: cancelled upstream")
)

// Proxy is a transaction-stateful proxy core (RFC 3261 §16) usable as a
// [stack.Handler]. Set its fields before serving; Client and Router are
// required.
type Proxy struct {
	// Client sends the forwarded requests. Set Client.Server to the
	// stack.Server that runs the Proxy, so that responses come back to it
	// and later 2xx responses can be forwarded statelessly.
	Client *stack.Client
	// Router computes target sets (§16.5).
	Router Router
	// TargetFilter, if set, is the target-set stage after the Router: it
	// may reorder and drop targets (caller preferences). An empty result is
	// answered 480.
	TargetFilter func(ctx context.Context, req *sip.Request, targets []Target) []Target
	// RecordRoute is this proxy's URI for Record-Route (§16.6 step 4); an
	// lr parameter is added. Nil: no Record-Route. It is also the URI that
	// identifies the proxy in Route values and in a Request-URI rewritten
	// by a strict router (§16.4).
	RecordRoute *sip.URI
	// Listeners are the URIs of the proxy's listeners, one per transport,
	// for instance sip:192.0.2.1:5060 (UDP), sip:192.0.2.1:5060;transport=tcp
	// and sips:192.0.2.1:5061 (TLS). With RecordRoute set, a request that
	// arrives on one transport and leaves on another is record-routed
	// twice (RFC 5658 §5, §6.2: "if the transport protocol changed between its
	// incoming and outgoing sides, the proxy SHOULD use the double
	// Record-Route technique"): the top value names the interface facing the
	// next hop, the second the one facing the previous hop, so that each
	// side of the dialog reaches the proxy over its own transport; a
	// request that stays on one transport is record-routed with its
	// listener's URI. A Route value naming any listener is this proxy's.
	Listeners []sip.URI
	// Domains are the local domains: a Route value naming one of them (no
	// port, or the port of RecordRoute) is this proxy's (§16.4).
	Domains []string
	// Supported lists the option tags this proxy understands in
	// Proxy-Require (§16.3 step 5); any other is answered 420.
	Supported []string
	// Parallel forks to all targets at once. By default targets are tried
	// sequentially by decreasing q, those of equal q in parallel (§16.6).
	Parallel bool
	// TimerC bounds how long an INVITE branch waits for a final response
	// after its last provisional one (§16.6 step 11, §16.8); zero means
	// DefaultTimerC.
	TimerC time.Duration
	// Policy, if set, may refuse a request that §16.3 found valid (no
	// open relay, say: validity comes first, so a request that is invalid
	// or cannot be forwarded at all — 483, 416, 420, a loop — gets that
	// answer whoever sends it). A non-nil response is sent instead of
	// proxying; a refused stray ACK is dropped (an ACK is never answered).
	Policy func(ctx context.Context, req *sip.Request) *sip.Response
	// OnBranch, if set, observes every branch. It is called from several
	// goroutines at once and must not block.
	OnBranch func(BranchEvent)
	// Logger receives the proxy's records; nil discards them.
	Logger *slog.Logger

	// hashes keys the loop-detection hash of branch parameters and the
	// branches of statelessly forwarded ACKs.
	hashes keyedHash
}

// discard is the logger of a Proxy without one (never changed).
var discard = slog.New(slog.DiscardHandler)

func (p *Proxy) log() *slog.Logger {
	if p.Logger == nil {
		return discard
	}
	return p.Logger
}

func (p *Proxy) timerC() time.Duration {
	if p.TimerC > 0 {
		return p.TimerC
	}
	return DefaultTimerC
}

func (p *Proxy) event(e BranchEvent) {
	if p.OnBranch != nil {
		p.OnBranch(e)
	}
}

// ServeSIP proxies req (§16.2: "a stateful proxy ... creates a new server
// transaction" — the stack did — and processes the request in the steps of
// §16.3 to §16.6).
func (p *Proxy) ServeSIP(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	if req.Method == sip.ACK || req.Method == sip.CANCEL {
		// An ACK for a non-2xx is absorbed by the server transaction and a
		// CANCEL is answered by the stack (§16.10); neither reaches a
		// handler. Forward a stray one statelessly, without a state.
		if req.Method == sip.ACK {
			if p.Policy == nil || p.Policy(ctx, req) == nil {
				p.ForwardAck(req, transport.Flow{})
			}
			return
		}
		_ = w.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist))
		return
	}
	if p.Client == nil {
		p.log().Error("proxy: no Client configured", logCallID, req.CallID(), logMethod, string(req.Method))
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return
	}
	loop := p.loopHash(req)
	if res := p.validate(req, loop); res != nil {
		_ = w.Respond(res)
		return
	}
	if p.Policy != nil {
		if res := p.Policy(ctx, req); res != nil {
			_ = w.Respond(res)
			return
		}
	}
	// §16.4: work on a copy, the server transaction keeps the original.
	r := req.Clone()
	strictUp := p.preprocessRoute(r)
	p.stripMAddr(w, r)

	var targets []Target
	// §16.5: "If the Request-URI of the request contains an maddr
	// parameter, the Request-URI MUST be placed into the target set as the
	// only target URI".
	routed := len(r.Routes()) > 0 || strictUp || r.URI.Params.Has("maddr")
	if routed {
		// §16.4/§16.5: a Route that is not ours remains; the request goes
		// there and the Request-URI is the only target (loose routing).
		// So does a request whose Request-URI a strict router upstream
		// set to our Record-Route: it is within a dialog and its
		// Request-URI, taken from Route, is the remote target.
		targets = []Target{{URI: r.URI, Q: 1000}}
	} else {
		if p.Router == nil {
			_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
			return
		}
		ts, status, err := p.Router.Targets(ctx, r)
		if err != nil {
			p.log().Warn("proxy: router", logCallID, req.CallID(), logMethod, string(req.Method), logError, err)
			_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
			return
		}
		if len(ts) == 0 {
			if status < 300 || status > 699 {
				status = sip.StatusTemporarilyUnavailable
			}
			_ = w.Respond(sip.NewResponse(req, status))
			return
		}
		if p.TargetFilter != nil {
			ts = p.TargetFilter(ctx, r, ts)
			if len(ts) == 0 {
				_ = w.Respond(sip.NewResponse(req, sip.StatusTemporarilyUnavailable))
				return
			}
		}
		targets = dedupe(ts)
	}
	inNet := transport.Unknown
	if fw, ok := w.(stack.FlowWriter); ok {
		inNet = fw.Flow().Network
	}
	rc := &respContext{
		p:     p,
		w:     w,
		inNet: inNet,
		req:   req,
		in:    r,
		loop:  loop,
		route: routed,
		base:  context.WithoutCancel(ctx),
		done:  make(chan *branch, len(targets)),
	}
	rc.run(ctx, p.order(targets))
}

// validate is §16.3; loop is p.loopHash(req). It returns the response to
// send, or nil.
func (p *Proxy) validate(req *sip.Request, loop string) *sip.Response {
	// Step 1, reasonable syntax, was the parser's and the transaction's.
	// Step 2: "If the Request-URI has a URI whose scheme is not understood
	// by the proxy, the proxy SHOULD reject the request with a 416".
	if !req.URI.Known() {
		return sip.NewResponse(req, sip.StatusUnsupportedURIScheme)
	}
	// Step 3: "If the request does not contain a Max-Forwards header field,
	// this check is passed. If the request contains a Max-Forwards header
	// field with a field value greater than zero, the check is passed. If
	// the request contains a Max-Forwards header field with a field value of
	// zero (0), ... the element MUST return a 483 (Too many hops)".
	if mf, ok := req.MaxForwards(); ok && mf <= 0 {
		return sip.NewResponse(req, sip.StatusTooManyHops)
	}
	// Step 4: a Via of ours whose branch carries the loop hash computed on
	// this message again means the request has looped; a different hash
	// means it spirals (§16.6 step 8). (An empty loop: no loop detection,
	// the stateless proxy's case; Max-Forwards still ends loops.)
	if loop != "" {
		suffix := loopSep + loop
		for _, v := range req.Vias() {
			if strings.HasSuffix(v.Branch(), suffix) {
				return sip.NewResponse(req, sip.StatusLoopDetected)
			}
		}
	}
	// Step 5: "If the request contains a Proxy-Require header field ... with
	// one or more option-tags this element does not understand, the element
	// MUST return a 420 (Bad Extension) response. The response MUST include
	// an Unsupported ... header field listing those option-tags".
	var unsupported []string
	if req.Has(string(sip.HeaderProxyRequire)) {
		for _, tag := range req.OptionTags(string(sip.HeaderProxyRequire)) {
			if !slices.Contains(p.Supported, tag) {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) > 0 {
		res := sip.NewResponse(req, sip.StatusBadExtension)
		_ = res.Add(string(sip.HeaderUnsupported), strings.Join(unsupported, ", "))
		return res
	}
	// Step 6 (Proxy-Authorization) is the job of an auth middleware.
	return nil
}

// loopHash is the loop-detection part of this proxy's branch parameters
// (§16.6 step 8): a hash, keyed with a secret of this Proxy so that only
// its own Vias match, of "the To tag, From tag, Call-ID header field, the
// Request-URI of the request received (before translation) ... and the
// sequence number from the CSeq header field, in addition to any
// Proxy-Require and Proxy-Authorization header fields", and the Route
// values. The method is left out ("CANCEL and ACK requests ... MUST have
// the same branch value"), and so is the topmost Via the RFC lists: a
// looped request comes back with another element's Via on top, which would
// make every loop look like a spiral.
func (p *Proxy) loopHash(req *sip.Request) string {
	h := p.hashes.get()
	defer p.hashes.put(h)
	// The tags read without decoding From and To ("" when absent).
	h.field(req.ToTag())
	h.field(req.FromTag())
	h.field(req.CallID())
	h.fieldURI(&req.URI)
	cs, _ := req.CSeq()
	h.buf = strconv.AppendUint(h.buf, uint64(cs.Seq), 10)
	for _, name := range [...]sip.HeaderName{sip.HeaderProxyRequire, sip.HeaderProxyAuthorization, sip.HeaderRoute} {
		if req.Has(string(name)) {
			for v := range req.Values(string(name)) {
				h.field(v)
			}
		}
		h.field("|")
	}
	var out [loopHashLen]byte
	return string(h.hex(out[:0], loopHashLen))
}

// isRecordRoute reports whether u is a URI this proxy puts in
// Record-Route: RecordRoute or one of Listeners.
func (p *Proxy) isRecordRoute(u *sip.URI) bool {
	if !u.IsSIP() {
		return false
	}
	same := func(rr *sip.URI) bool {
		return strings.EqualFold(u.Host, rr.Host) && u.User == rr.User && defaultPort(u) == defaultPort(rr)
	}
	if p.RecordRoute != nil && same(p.RecordRoute) {
		return true
	}
	for i := range p.Listeners {
		if same(&p.Listeners[i]) {
			return true
		}
	}
	return false
}

// Ours reports whether u, a Route or Request-URI, names this proxy: its
// Record-Route URI, one of its Listeners, or a local domain with no port
// or the Record-Route port (§16.4).
func (p *Proxy) Ours(u *sip.URI) bool { return p.isOurs(u) }

// listenerFor returns the URI of the listener for network n, or nil.
func (p *Proxy) listenerFor(n transport.Network) *sip.URI {
	for i := range p.Listeners {
		if uriNetwork(&p.Listeners[i]) == n {
			return &p.Listeners[i]
		}
	}
	return nil
}

// uriNetwork is the transport a URI of a listener names: its transport
// parameter, else TLS for sips and UDP for sip.
func uriNetwork(u *sip.URI) transport.Network {
	if t, ok := u.Params.Get("transport"); ok {
		if n, err := transport.ParseNetwork(t); err == nil {
			return n
		}
	}
	if u.Secure() {
		return transport.TLS
	}
	return transport.UDP
}

// bridging reports whether the Listeners span several transports, so
// that a request may change transport and need a double Record-Route.
func (p *Proxy) bridging() bool {
	if p.RecordRoute == nil || len(p.Listeners) < 2 {
		return false
	}
	n := uriNetwork(&p.Listeners[0])
	for i := range p.Listeners[1:] {
		if uriNetwork(&p.Listeners[i+1]) != n {
			return true
		}
	}
	return false
}

// addRecordRoute is §16.6 step 4 for a copy that arrived on network in
// and leaves on out (Unknown when not known): "If this proxy wishes to
// remain on the path of future requests in a dialog created by this
// request ..., it MUST insert a Record-Route header field value". When
// the transports differ and both have a listener, two values are inserted
// (RFC 5658 §6.2, "double Record-Routing"): the one facing the next hop
// on top. REGISTER creates no dialog (Path does that job, RFC 3327).
func (p *Proxy) addRecordRoute(c *sip.Request, in, out transport.Network) {
	if p.RecordRoute == nil || c.Method == sip.REGISTER {
		return
	}
	lr := func(u sip.URI) sip.NameAddr {
		u.Params = u.Params.Set("lr", "")
		return sip.NameAddr{URI: u}
	}
	li, lo := p.listenerFor(in), p.listenerFor(out)
	switch {
	case li != nil && lo != nil && in != out:
		c.PrependRecordRoute(lr(*li))
		c.PrependRecordRoute(lr(*lo))
	case li != nil && (out == in || out == transport.Unknown):
		c.PrependRecordRoute(lr(*li))
	default:
		c.PrependRecordRoute(lr(*p.RecordRoute))
	}
}

// isOurs reports whether a Route URI names this proxy (§16.4).
func (p *Proxy) isOurs(u *sip.URI) bool {
	if p.isRecordRoute(u) {
		return true
	}
	if !u.IsSIP() {
		return false
	}
	for _, d := range p.Domains {
		if strings.EqualFold(u.Host, d) && (u.Port == 0 || p.RecordRoute != nil && defaultPort(u) == defaultPort(p.RecordRoute)) {
			return true
		}
	}
	return false
}

// sameURI reports whether a and b name the same host, port and transport.
func sameURI(a, b *sip.URI) bool {
	return strings.EqualFold(a.Host, b.Host) && defaultPort(a) == defaultPort(b) && uriNetwork(a) == uriNetwork(b)
}

func defaultPort(u *sip.URI) uint16 {
	if u.Port != 0 {
		return u.Port
	}
	if u.Secure() {
		return 5061
	}
	return 5060
}

// preprocessRoute is §16.4 on r. It reports whether the Request-URI was
// ours, set by a strict router upstream.
func (p *Proxy) preprocessRoute(r *sip.Request) (strictUp bool) {
	// "If the Request-URI of the request contains a value this proxy
	// previously placed into a Record-Route header field ..., the proxy
	// MUST replace the Request-URI in the request with the last value from
	// the Route header field, and remove that value from the Route header
	// field." (The element upstream is a strict router.)
	if routes := r.Routes(); len(routes) > 0 && p.isRecordRoute(&r.URI) {
		last := routes[len(routes)-1].URI
		setRoutes(r, routes[:len(routes)-1])
		r.URI = last
		strictUp = true
	}
	// "If the first value in the Route header field indicates this proxy,
	// the proxy MUST remove that value from the request." After a double
	// Record-Route the next value names this proxy too, on its
	// other interface: it goes as well (RFC 5658 §5: "a proxy MAY remove
	// two Route headers instead of one when using the double
	// Record-Routing").
	if routes := r.Routes(); len(routes) > 0 && p.isOurs(&routes[0].URI) {
		r.RemoveTopRoute()
		if len(routes) > 1 && p.isRecordRoute(&routes[1].URI) && !sameURI(&routes[0].URI, &routes[1].URI) {
			r.RemoveTopRoute()
		}
	}
	return strictUp
}

// stripMAddr is the maddr rule of §16.4: "If the Request-URI has a maddr
// parameter with a value the proxy is responsible for, and the request was
// received using the port and transport indicated (explicitly or by
// default) in the Request-URI, the proxy MUST strip the maddr and any
// non-default port or transport parameter and continue processing as if
// those values had not been present in the request."
func (p *Proxy) stripMAddr(w stack.ResponseWriter, r *sip.Request) {
	m, ok := r.URI.Params.Get("maddr")
	if !ok {
		return
	}
	ours := p.RecordRoute != nil && strings.EqualFold(m, p.RecordRoute.Host) ||
		slices.ContainsFunc(p.Domains, func(d string) bool { return strings.EqualFold(d, m) })
	if !ours {
		return
	}
	if fw, ok := w.(stack.FlowWriter); ok {
		f := fw.Flow()
		if f.Local.IsValid() && f.Local.Port() != defaultPort(&r.URI) {
			return
		}
		if t, ok := r.URI.Params.Get("transport"); ok && !strings.EqualFold(t, f.Network.String()) {
			return
		}
	}
	r.URI.Params = r.URI.Params.Del("maddr").Del("transport")
	r.URI.Port = 0
}

// setRoutes replaces r's Route values by routes.
func setRoutes(r *sip.Request, routes []sip.NameAddr) {
	keep := slices.Clone(routes)
	r.Del(string(sip.HeaderRoute))
	for _, n := range keep {
		_ = r.Add(string(sip.HeaderRoute), n.String())
	}
}

// dedupe drops targets whose URI is already in the set (§16.5: "A proxy
// MUST NOT add a target to the target set if it is already present").
func dedupe(ts []Target) []Target {
	if len(ts) < 2 {
		return ts
	}
	out := make([]Target, 0, len(ts))
	for _, t := range ts {
		if !slices.ContainsFunc(out, func(o Target) bool { return o.URI.Equal(&t.URI) }) {
			out = append(out, t)
		}
	}
	return out
}

// order groups the targets to fork to together: one group when Parallel,
// else groups of equal q by decreasing q (§16.6: "a proxy might process the
// targets in order of their q-value, forking to those of equal q in
// parallel").
func (p *Proxy) order(ts []Target) [][]Target {
	if p.Parallel || len(ts) == 1 {
		return [][]Target{ts}
	}
	s := slices.Clone(ts)
	slices.SortStableFunc(s, func(a, b Target) int { return cmp.Compare(b.Q, a.Q) })
	var groups [][]Target
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j].Q == s[i].Q {
			j++
		}
		groups = append(groups, s[i:j])
		i = j
	}
	return groups
}

// forwardCopy builds the request for target t (§16.6 steps 1–8). in is the
// request after §16.4; routed says the Request-URI stays (loose routing).
// It returns the request, the branch, and the destination when the proxy
// must choose it (strict router next, step 7).
func (p *Proxy) forwardCopy(in *sip.Request, t Target, routed bool, loop string) (c *sip.Request, branch string, strict bool) {
	c, strict = p.prepareCopy(in, t, routed)
	// Step 8: "The proxy MUST insert a Via header field value into the copy
	// before the existing Via header field values", with a branch "globally
	// unique for that branch" (sip.NewBranch) followed by the loop part.
	params := ";branch=" + sip.NewBranch() + loopSep + loop
	branch = params[len(";branch="):]
	c.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: sip.Params(params)})
	return c, branch, strict
}

// prepareCopy is §16.6 steps 1–7 for target t: the copy without the
// proxy's Via. strict says it was reformatted for a strict router.
func (p *Proxy) prepareCopy(in *sip.Request, t Target, routed bool) (c *sip.Request, strict bool) {
	// Step 1: "Make a copy of the received request".
	c = in.Clone()
	// Step 2: "The Request-URI in the copy's start line MUST be replaced
	// with the URI for this target. If the URI contains any parameters not
	// allowed in a Request-URI, they MUST be removed."
	if !routed {
		u := t.URI
		u.Headers = ""
		u.Params = u.Params.Del("method")
		c.URI = u
	}
	// Step 3: "If the copy contains a Max-Forwards header field, the proxy
	// MUST decrement its value by one (1). If the copy does not contain a
	// Max-Forwards header field, the proxy MUST add one with a field value,
	// which SHOULD be 70."
	if mf, ok := c.MaxForwards(); ok {
		c.SetMaxForwards(mf - 1)
	} else {
		c.SetMaxForwards(70)
	}
	// Step 4 (Record-Route) is addRecordRoute, once the next hop and so
	// the outgoing transport are known.
	// Step 6: the target's route set (Path) is pushed as Route values,
	// then, "If the copy contains a Route header field, the proxy MUST
	// inspect the URI in its first value. If that URI does not contain an
	// lr parameter, the proxy MUST modify the copy as follows: place the
	// Request-URI into the Route header field as the last value. Place the
	// first Route header field value into the Request-URI and remove that
	// value from the Route header field."
	for i := len(t.Path) - 1; i >= 0; i-- {
		c.PrependRoute(t.Path[i])
	}
	if routes := c.Routes(); len(routes) > 0 && !routes[0].URI.Params.Has("lr") {
		ruri := c.URI
		c.URI = routes[0].URI
		rest := append(slices.Clone(routes[1:]), sip.NameAddr{URI: ruri})
		setRoutes(c, rest)
		strict = true
	}
	return c, strict
}

// nextHop is §16.6 step 7 when the proxy must choose the destination
// itself: for a request reformatted for a strict router ("the proxy MUST
// apply those procedures to the Request-URI of the request", which
// stack.Client would not do when a loose-routing Route follows), and,
// with force, always (to know the outgoing transport when bridging); ok is
// false when the Client may choose. It returns every address RFC 3263
// gives for the transport of the first one, in order, so that the Client
// still fails over between them (§4.3); the Record-Route written for that
// transport stays right for each.
func (p *Proxy) nextHop(ctx context.Context, c *sip.Request, strict, force bool) ([]transport.Dest, bool, error) {
	if !strict && !force {
		return nil, false, nil
	}
	u := c.URI
	if !strict {
		if routes := c.Routes(); len(routes) > 0 {
			u = routes[0].URI
		}
	}
	ds, err := resolveAll(ctx, p.resolver(), &u)
	if err != nil {
		return nil, false, err
	}
	same := ds[:1]
	for _, d := range ds[1:] {
		if d.Network == ds[0].Network {
			same = append(same, d)
		}
	}
	return same, true, nil
}

func (p *Proxy) resolver() *resolve.Resolver {
	r := p.Client.Resolver
	if r == nil && p.Client.Server != nil {
		r = p.Client.Server.Resolver
	}
	if r == nil {
		r = &resolve.Resolver{}
	}
	return r
}

// resolveURI resolves u with RFC 3263 and returns the first destination.
func (p *Proxy) resolveURI(ctx context.Context, u *sip.URI) (transport.Dest, error) {
	return resolveWith(ctx, p.resolver(), u)
}

// resolveWith resolves u with r (RFC 3263) and returns the first
// destination.
func resolveWith(ctx context.Context, r *resolve.Resolver, u *sip.URI) (transport.Dest, error) {
	ds, err := resolveAll(ctx, r, u)
	if err != nil {
		return transport.Dest{}, err
	}
	return ds[0], nil
}

// resolveAll resolves u with r (RFC 3263): the destinations in order, at
// least one.
func resolveAll(ctx context.Context, r *resolve.Resolver, u *sip.URI) ([]transport.Dest, error) {
	if !u.IsSIP() {
		return nil, fmt.Errorf("proxy: cannot route to a %s URI", u.Scheme)
	}
	q := resolve.Query{Host: u.Host, Port: u.Port, Secure: u.Secure()}
	if t, ok := u.Params.Get("transport"); ok {
		n, err := transport.ParseNetwork(t)
		if err != nil {
			return nil, fmt.Errorf("proxy: unsupported transport %q", t)
		}
		q.Transport = n
	}
	if m, ok := u.Params.Get("maddr"); ok {
		q.MAddr = m
	}
	ts, err := r.Lookup(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, errors.New("proxy: no address for " + u.Host)
	}
	ds := make([]transport.Dest, len(ts))
	for i, t := range ts {
		ds[i] = transport.Dest{Network: t.Network, Addr: t.Addr, Host: t.Host}
	}
	return ds, nil
}

// upstream turns a branch response into the response for the server
// transaction: §16.7 step 3, "The proxy removes the topmost Via header
// field value from the response", leaving exactly the Vias of the request
// received.
func upstream(res *sip.Response) *sip.Response {
	// (The server transaction sends it to the top Via left, §18.2.2.)
	up := res.Clone()
	up.RemoveTopVia()
	return up
}

// ourBranch reports whether branch has the shape of this package's branch
// parameters (the hash itself cannot be checked on a response).
func ourBranch(branch string) bool {
	i := strings.LastIndex(branch, loopSep)
	if i < 0 || len(branch)-i-len(loopSep) != loopHashLen || !strings.HasPrefix(branch, sip.MagicCookie) {
		return false
	}
	_, err := hex.DecodeString(branch[i+len(loopSep):])
	return err == nil
}
