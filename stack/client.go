package stack

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// Errors of Client.Do, mapped to RFC 3261 §8.1.3.1: a timeout is handled
// as a 408 Request Timeout, a transport failure as a 503 Service
// Unavailable.
var (
	ErrTimeout   = transaction.ErrTimeout
	ErrTransport = transaction.ErrTransport
)

// Client sends requests through client transactions. Its zero value sends
// from a private transport layer on ephemeral ports; set Server to send
// from a Server's listening addresses, so that responses and later
// requests of the peer come back to it (a user agent, a proxy).
type Client struct {
	// Server, if set, provides the transport and transaction layers.
	Server *Server
	// Resolver locates the next hop (RFC 3263); nil means the Server's,
	// or a zero resolve.Resolver.
	Resolver *resolve.Resolver

	own Server // used when Server is nil
}

func (c *Client) server() *Server {
	if c.Server != nil {
		c.Server.init()
		return c.Server
	}
	c.own.init()
	return &c.own
}

// Close releases a Client's private layers (nothing when Server is set).
func (c *Client) Close() error {
	if c.Server != nil {
		return nil
	}
	return c.own.Close()
}

// Option changes how one Do call works. Options are values: passing them
// costs no allocation.
type Option struct {
	kind   optionKind
	dest   transport.Dest
	res    func(*sip.Response)
	branch func(prev string) string
	dests  []transport.Dest
}

type optionKind uint8

const (
	optNone optionKind = iota
	optDest
	optProvisional
	optAfterFinal
	optRetryBranch
	optDests // a list of destinations, as a resolver would give
)

type doOptions struct {
	hasDest     bool
	dest        transport.Dest
	dests       []transport.Dest
	provisional func(*sip.Response)
	afterFinal  func(*sip.Response)
	retryBranch func(prev string) string
}

func (o *doOptions) apply(opt *Option) {
	switch opt.kind {
	case optDest:
		o.hasDest, o.dest = true, opt.dest
	case optProvisional:
		o.provisional = opt.res
	case optAfterFinal:
		o.afterFinal = opt.res
	case optRetryBranch:
		o.retryBranch = opt.branch
	case optDests:
		o.dests = opt.dests
	}
}

// WithDest sends the request to d instead of resolving the next hop.
func WithDest(d transport.Dest) Option { return Option{kind: optDest, dest: d} }

// WithProvisional calls f with every provisional response, in order.
func WithProvisional(f func(*sip.Response)) Option {
	return Option{kind: optProvisional, res: f}
}

// WithAfterFinal calls f, on another goroutine, with every response the
// INVITE client transaction passes up after Do has returned its first 2xx:
// retransmissions of that 2xx (each needs the ACK again, §13.2.2.4) and 2xx
// responses from other forks (RFC 6026 Accepted state), until Timer M ends
// the transaction.
func WithAfterFinal(f func(*sip.Response)) Option {
	return Option{kind: optAfterFinal, res: f}
}

// WithRetryBranch sets how Do derives the branch of the top Via when it
// fails over to the next destination, which is a new transaction (RFC 3263
// §4.3) and so needs a new branch (§8.1.1.7): f is given the branch of the
// previous attempt and returns the next one, which must be new and start
// with the magic cookie. Without it the branch is replaced by a random one
// ([sip.NewBranch]).
//
// A proxy whose branches carry a loop-detection hash (§16.6 step 8) uses it
// to keep the hash on retries, e.g.
//
//	stack.WithRetryBranch(func(string) string { return sip.NewBranch() + "." + hash })
func WithRetryBranch(f func(prev string) string) Option {
	return Option{kind: optRetryBranch, branch: f}
}

// WithDests makes Do try ds in order instead of resolving the next hop, as
// if the RFC 3263 resolver had returned them: on a transport error, a
// timeout or a 503 it fails over to the next one (RFC 3263 §4.3), in a new
// transaction with a new branch (see [WithRetryBranch]). A proxy that
// resolves a next hop itself, to know the outgoing transport before it
// writes Record-Route, passes the addresses it found this way. An empty
// ds means no destination: Do resolves as usual.
func WithDests(ds ...transport.Dest) Option { return Option{kind: optDests, dests: ds} }

// Do sends req through a client transaction and returns its final
// response. A request without a Via gets one with a new branch (§8.1.1.7);
// the transport fills in sent-by.
//
// The next hop is the first Route if it is a loose router, else the
// Request-URI (§8.1.2), resolved with RFC 3263; on a transport error, a
// timeout or a 503 the next target is tried with a new transaction (RFC
// 3263 §4.3), and the last outcome is returned.
//
// A timeout returns an error wrapping [ErrTimeout], a transport failure
// one wrapping [ErrTransport] (§8.1.3.1). Any final response — 4xx to 6xx
// included — is returned with a nil error.
//
// Cancelling ctx of an INVITE sends a CANCEL (§9.1) — once a provisional
// response has arrived, as the RFC requires — with the Reason values a
// cause made by [WithCancelReason] carries, and Do still waits for the
// final response (normally 487), which it returns with ctx's error. For
// other methods, cancelling ctx returns at once; the transaction runs on.
func (c *Client) Do(ctx context.Context, req *sip.Request, opts ...Option) (*sip.Response, error) {
	var o doOptions
	for i := range opts {
		o.apply(&opts[i])
	}
	s := c.server()
	if req.Method == sip.ACK {
		return nil, errors.New("stack: ACK has no transaction; use Client.SendAck")
	}
	if req.TopVia() == nil {
		// With the ";rport" the transport would add (RFC 3581 §3), in
		// the same allocation.
		req.PrependVia(sip.Via{Transport: "UDP", Host: "invalid.invalid", Params: branchParam(!s.tp.NoRPort)})
	}
	if o.hasDest {
		// One destination: no failover, no slice.
		return c.once(ctx, s, req, o.dest, &o)
	}
	targets := o.dests
	if len(targets) == 0 {
		var err error
		if targets, err = c.resolve(ctx, req); err != nil {
			return nil, err
		}
	}
	var res *sip.Response
	var err error
	for i, d := range targets {
		if i > 0 {
			// A new target is a new transaction with a new branch.
			v := *req.TopVia()
			b := ""
			if o.retryBranch != nil {
				b = o.retryBranch(v.Branch())
			} else {
				b = sip.NewBranch()
			}
			v.Params = v.Params.Set("branch", b)
			req.SetTopVia(v)
		}
		res, err = c.once(ctx, s, req, d, &o)
		retry := errors.Is(err, ErrTransport) || errors.Is(err, ErrTimeout) ||
			err == nil && res.StatusCode == sip.StatusServiceUnavailable
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return res, err
}

// resolve returns the ordered destinations of req's next hop.
func (c *Client) resolve(ctx context.Context, req *sip.Request) ([]transport.Dest, error) {
	u := req.URI
	if rs := req.Routes(); len(rs) > 0 && rs[0].URI.Params.Has("lr") {
		u = rs[0].URI
	}
	if !u.IsSIP() {
		return nil, fmt.Errorf("stack: cannot route to a %s URI", u.Scheme)
	}
	r := c.Resolver
	if r == nil {
		r = c.server().Resolver
	}
	q := resolve.Query{Host: u.Host, Port: u.Port, Secure: u.Secure()}
	if t, ok := u.Params.Get("transport"); ok {
		n, err := transport.ParseNetwork(t)
		if err != nil {
			return nil, fmt.Errorf("stack: unsupported transport %q", t)
		}
		q.Transport = n
	}
	if m, ok := u.Params.Get("maddr"); ok {
		q.MAddr = m
	}
	ts, err := r.Lookup(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTransport, err)
	}
	out := make([]transport.Dest, len(ts))
	for i, t := range ts {
		out[i] = transport.Dest{Network: t.Network, Addr: t.Addr, Host: t.Host}
	}
	return out, nil
}

// once runs one client transaction to d.
func (c *Client) once(ctx context.Context, s *Server, req *sip.Request, d transport.Dest, o *doOptions) (*sip.Response, error) {
	tx, err := s.tx.Request(ctx, req, d)
	if err != nil {
		return nil, err
	}
	provisional := false
	canceled := false
	done := ctx.Done()
	responses := tx.Responses()
	for {
		var res *sip.Response
		var ok bool
		if done == nil {
			// No cancellation to watch (context.Background, or already
			// handled): a plain receive, cheaper than a select.
			res, ok = <-responses
		} else {
			select {
			case res, ok = <-responses:
			case <-done:
				done = nil
				if req.Method != sip.INVITE {
					return nil, context.Cause(ctx)
				}
				// §9.1: "If no provisional response has been received,
				// the CANCEL request MUST NOT be sent; rather, the client
				// MUST wait for the arrival of a provisional response
				// before sending the request."
				if provisional {
					c.sendCancel(s, tx, context.Cause(ctx))
				} else {
					canceled = true
				}
				continue
			}
		}
		if !ok {
			err := tx.Err()
			if err == nil {
				err = transaction.ErrTerminated
			}
			return nil, err
		}
		if res.StatusCode.Provisional() {
			provisional = true
			if o.provisional != nil {
				o.provisional(res)
			}
			if canceled {
				c.sendCancel(s, tx, context.Cause(ctx))
				canceled = false
			}
			continue
		}
		if f := o.afterFinal; res.StatusCode.Success() && req.Method == sip.INVITE && f != nil {
			go func() {
				for r := range responses {
					f(r)
				}
			}()
		}
		if ctx.Err() != nil {
			return res, context.Cause(ctx)
		}
		return res, nil
	}
}

// sendCancel builds the CANCEL of §9.1, with the Reason values (RFC 3326)
// that the context's cause carries ([WithCancelReason]), and sends it, in
// its own client transaction, to the flow the INVITE used. Its outcome
// does not matter: the INVITE's final response is what the caller waits
// for.
func (c *Client) sendCancel(s *Server, invite *transaction.ClientTx, cause error) {
	cancel := NewCancel(invite.Request())
	for _, v := range cancelReasons(cause) {
		_ = cancel.Add(string(sip.HeaderReason), v)
	}
	tx, err := s.tx.Request(context.Background(), cancel, transport.Dest{Flow: invite.Flow(), Network: invite.Flow().Network, Addr: invite.Flow().Remote})
	if err != nil {
		return
	}
	go func() {
		// Drain its responses so the transaction is never blocked.
		t := time.NewTimer(2 * time.Minute)
		defer t.Stop()
		for {
			select {
			case _, ok := <-tx.Responses():
				if !ok {
					return
				}
			case <-t.C:
				return
			}
		}
	}()
}

// NewCancel builds the CANCEL for req as §9.1 says: "The Request-URI,
// Call-ID, To, the numeric part of CSeq, and From header fields in the
// CANCEL request MUST be identical to those fields in the request being
// cancelled, including tags. ... [it] MUST have a single Via header field
// value matching the top Via value in the request being cancelled", and
// the same Route header fields.
func NewCancel(req *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, req.URI)
	if v := req.TopVia(); v != nil {
		c.PrependVia(*v)
	}
	if f := req.From(); f != nil {
		c.SetFrom(*f)
	}
	if t := req.To(); t != nil {
		c.SetTo(*t)
	}
	c.SetCallID(req.CallID())
	cs, _ := req.CSeq()
	c.SetCSeq(sip.CSeq{Seq: cs.Seq, Method: sip.CANCEL})
	c.SetMaxForwards(70)
	for _, r := range req.Routes() {
		_ = c.Add(string(sip.HeaderRoute), r.String())
	}
	return c
}

// SendAck sends an ACK for a 2xx response directly through the transport:
// it has no transaction (§13.2.2.4, §17.1.1.3). It returns the flow used.
func (c *Client) SendAck(ctx context.Context, ack *sip.Request, d transport.Dest) (transport.Flow, error) {
	if ack.TopVia() == nil {
		ack.PrependVia(sip.Via{Transport: "UDP", Host: "invalid.invalid", Params: branchParam(false)})
	}
	return c.server().tp.SendRequest(ctx, ack, d)
}

// branchParam returns ";branch=" and a new branch (§8.1.1.7: the magic
// cookie and 80 random bits, as sip.NewBranch), then ";rport" if asked, in
// one allocation.
func branchParam(rport bool) sip.Params {
	const prefix = ";branch=" + sip.MagicCookie
	const suffix = ";rport"
	var raw [10]byte
	rand.Read(raw[:]) // never fails (Go 1.24+)
	var b [len(prefix) + 16 + len(suffix)]byte
	copy(b[:], prefix)
	branchEncoding.Encode(b[len(prefix):], raw[:])
	n := len(prefix) + 16
	if rport {
		n += copy(b[n:], suffix)
	}
	return sip.Params(b[:n])
}

var branchEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
