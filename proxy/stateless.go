package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// Stateless is a stateless proxy (RFC 3261 §16.11): "a simple message
// forwarder" that "takes messages, both requests and responses, directly
// from the transport layer". It keeps nothing between messages: a
// retransmitted request is forwarded again, to the same destination and
// with the same branch, and a response is forwarded by its Via.
//
// Plug [Stateless.HandleIncoming] into a transport.Layer's Handler (or call
// ForwardRequest and ForwardResponse from a dispatcher that sends other
// messages to a transaction layer). Set the fields before the first
// message; Transport and Router are required.
type Stateless struct {
	// Transport sends the forwarded requests and responses.
	Transport *transport.Layer
	// Router computes the target set (§16.5); the proxy forwards to one
	// target of it.
	Router Router
	// Resolver locates next hops (RFC 3263); nil means a zero
	// resolve.Resolver.
	Resolver *resolve.Resolver
	// RecordRoute, Listeners, Domains and Supported are as in [Proxy].
	RecordRoute *sip.URI
	Listeners   []sip.URI
	Domains     []string
	Supported   []string
	// Policy, if set, may refuse a request after validation (no open
	// relay, say): a non-zero status is answered.
	Policy func(req *sip.Request) sip.StatusCode
	// Logger receives the proxy's records; nil discards them.
	Logger *slog.Logger
	// OnMessage, if set, is told of every message the proxy handles, for
	// metrics and request logs (a stateless proxy has no transactions,
	// so a server's handler middleware never sees them). It runs on the
	// goroutine handling the message and must not block.
	OnMessage func(StatelessEvent)

	once   sync.Once
	core   *Proxy // §16.3, §16.4 and §16.6 steps 1–7, shared with Proxy
	hashes keyedHash
}

// StatelessEventKind says what [StatelessEvent] reports.
type StatelessEventKind uint8

// The kinds of [StatelessEvent].
const (
	// StatelessReceived: HandleIncoming took a request or response from
	// the transport.
	StatelessReceived StatelessEventKind = iota + 1
	// StatelessForwarded: a request or response was sent on.
	StatelessForwarded
	// StatelessAnswered: the proxy answered a request itself (§16.3
	// validation, Policy, no target, an unresolvable next hop).
	StatelessAnswered
)

// StatelessEvent is a message the [Stateless] proxy received, forwarded or
// answered with.
type StatelessEvent struct {
	Kind StatelessEventKind
	// Message is the message received, the copy forwarded, or the
	// response sent.
	Message sip.Message
	// Request is the request answered (StatelessAnswered).
	Request *sip.Request
	// Flow is where a received or answered request came from.
	Flow transport.Flow
	// Dest is where a request was forwarded (zero for a response, which
	// follows its Via).
	Dest transport.Dest
}

func (p *Stateless) event(ev StatelessEvent) {
	if p.OnMessage != nil {
		p.OnMessage(ev)
	}
}

func (p *Stateless) init() {
	p.once.Do(func() {
		p.core = &Proxy{RecordRoute: p.RecordRoute, Listeners: p.Listeners, Domains: p.Domains, Supported: p.Supported, Logger: p.Logger}
		if p.Resolver == nil {
			p.Resolver = &resolve.Resolver{}
		}
	})
}

// statelessTimeout bounds the handling of one message.
const statelessTimeout = 10 * time.Second

// HandleIncoming forwards one message from the transport layer on its own
// goroutine (a transport Handler must not block): requests with
// ForwardRequest, responses with ForwardResponse. Errors are logged.
func (p *Stateless) HandleIncoming(in transport.Incoming) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), statelessTimeout)
		defer cancel()
		var err error
		var callID, method string
		p.event(StatelessEvent{Kind: StatelessReceived, Message: in.Message, Flow: in.Flow})
		switch m := in.Message.(type) {
		case *sip.Request:
			callID, method = m.CallID(), string(m.Method)
			err = p.ForwardRequest(ctx, m, in.Flow)
		case *sip.Response:
			cs, _ := m.CSeq()
			callID, method = m.CallID(), string(cs.Method)
			err = p.ForwardResponse(ctx, m)
		}
		if err != nil {
			p.core.log().Debug("proxy: stateless", logCallID, callID, logMethod, method, logRemote, in.Flow.Remote.String(), logError, err)
		}
	}()
}

// Errors of the stateless proxy.
var (
	// ErrNotOurs: a response whose top Via this proxy did not insert
	// ("the message MUST be silently discarded", §16.11).
	ErrNotOurs = errors.New("proxy: response not forwarded by this proxy")
)

// ForwardRequest processes req, received on flow, as §16.11 says: §16.3
// validation (answered statelessly, with a To tag computed from the
// request so that a retransmission gets the same response), §16.4 and
// §16.5 with one target chosen from the message alone, §16.6 with a branch
// computed from the request, sent straight to the transport. No 100
// (Trying) is sent ("an element MUST NOT generate its own 100 (Trying) or
// any other provisional response"). A CANCEL is handled like any other
// request, so it follows its INVITE (same target, same branch). An ACK is
// never answered.
func (p *Stateless) ForwardRequest(ctx context.Context, req *sip.Request, flow transport.Flow) error {
	p.init()
	core := p.core
	if res := core.validate(req, ""); res != nil {
		return p.reject(ctx, req, flow, res)
	}
	if p.Policy != nil {
		if code := p.Policy(req); code != 0 {
			return p.reject(ctx, req, flow, sip.NewResponse(req, code))
		}
	}
	r := req.Clone()
	strictUp := core.preprocessRoute(r)
	core.stripMAddr(nil, r)
	routed := len(r.Routes()) > 0 || strictUp || r.URI.Params.Has("maddr")
	var t Target
	if routed {
		t = Target{URI: r.URI, Q: 1000}
	} else {
		if p.Router == nil {
			return errors.New("proxy: Stateless has no Router")
		}
		ts, status, err := p.Router.Targets(ctx, r)
		if err != nil {
			_ = p.reject(ctx, req, flow, sip.NewResponse(req, sip.StatusServerInternalError))
			return err
		}
		if len(ts) == 0 {
			if status < 300 || status > 699 {
				status = sip.StatusTemporarilyUnavailable
			}
			return p.reject(ctx, req, flow, sip.NewResponse(req, status))
		}
		t = choose(ts)
	}
	c, strict := core.prepareCopy(r, t, routed)
	// §16.11: "the branch parameter MUST be computed as a combinatoric
	// function of message parameters which are invariant on
	// retransmission."
	c.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: sip.Params(statelessVia(&p.hashes, req))})
	// §16.11: "A stateless proxy determines where to forward the request
	// as described for stateful proxies in Section 16.6 Item 10. The
	// request is sent directly to the transport layer".
	var d transport.Dest
	if t.Dest != nil {
		d = *t.Dest
	} else {
		u := c.URI
		if routes := c.Routes(); len(routes) > 0 && !strict {
			u = routes[0].URI
		}
		var err error
		if d, err = p.resolve(ctx, &u); err != nil {
			if req.Method != sip.ACK {
				// §16.9: a transport error counts as a 503, and a 503 is
				// not forwarded as such (§16.7 step 6): 500.
				_ = p.reject(ctx, req, flow, sip.NewResponse(req, sip.StatusServerInternalError))
			}
			return err
		}
	}
	// §16.6 step 4, with the same values for a retransmission: they
	// depend on the transports only.
	core.addRecordRoute(c, flow.Network, d.Network)
	if _, err := p.Transport.SendRequest(ctx, c, d); err != nil {
		return fmt.Errorf("proxy: stateless forward to %v: %w", d.Addr, err)
	}
	p.event(StatelessEvent{Kind: StatelessForwarded, Message: c, Flow: flow, Dest: d})
	return nil
}

// choose picks the one target of a stateless proxy (§16.11: "This choice
// MUST only rely on fields in the message and time-invariant properties of
// the server ... CANCEL and non-Routed ACK requests MUST generate the same
// choice as their associated INVITE"): the highest q, then the smallest
// URI, whatever order the router gave.
func choose(ts []Target) Target {
	best := ts[0]
	for _, t := range ts[1:] {
		if t.Q > best.Q || t.Q == best.Q && t.URI.String() < best.URI.String() {
			best = t
		}
	}
	return best
}

func (p *Stateless) resolve(ctx context.Context, u *sip.URI) (transport.Dest, error) {
	return resolveWith(ctx, p.Resolver, u)
}

// reject answers req statelessly with res (never an ACK). The To tag is a
// hash of the request's branch, so a retransmitted request gets the same
// response.
func (p *Stateless) reject(ctx context.Context, req *sip.Request, flow transport.Flow, res *sip.Response) error {
	if req.Method == sip.ACK {
		return nil
	}
	if to := req.To(); to != nil && to.Tag() == "" {
		res.SetToTag(p.tag(req))
	}
	if err := p.Transport.SendResponse(ctx, res, flow); err != nil {
		return err
	}
	p.event(StatelessEvent{Kind: StatelessAnswered, Message: res, Request: req, Flow: flow})
	return nil
}

func (p *Stateless) tag(req *sip.Request) string {
	h := p.hashes.get()
	defer p.hashes.put(h)
	h.field("tag")
	h.field(statelessBranch(&p.hashes, req))
	var out [16]byte
	return string(h.hex(out[:0], 16))
}

// ForwardResponse is §16.11 for a response: "If that address matches the
// proxy, (it equals a value this proxy has inserted into previous
// requests) the proxy MUST remove that header field value from the
// response and forward the result to the location indicated in the next
// Via header field value. The proxy MUST NOT add to, modify, or remove the
// message body. ... If the address does not match the proxy, the message
// MUST be silently discarded." The transport layer has checked the sent-by
// (§18.1.2); the branch must be one this package computes statelessly.
func (p *Stateless) ForwardResponse(ctx context.Context, res *sip.Response) error {
	p.init()
	v := res.TopVia()
	if v == nil || !IsStatelessBranch(v.Branch()) {
		return ErrNotOurs
	}
	if !res.RemoveTopVia() || res.TopVia() == nil {
		return ErrNotOurs
	}
	if err := p.Transport.SendResponse(ctx, res, transport.Flow{}); err != nil {
		return err
	}
	p.event(StatelessEvent{Kind: StatelessForwarded, Message: res})
	return nil
}
