package proxy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// ForwardAck forwards an ACK for a 2xx response, which belongs to no
// transaction (§13.2.2.4, §17.1.1.3, RFC 6026): the proxy forwards it
// statelessly (§16.11). Plug it into stack.Server.OnAck:
//
//	srv.OnAck = p.ForwardAck
//
// The ACK goes through §16.3 (Max-Forwards), §16.4 (the proxy's Route
// value is removed) and §16.6 steps 3, 6, 7 and 8, with a branch computed
// from the ACK so that its retransmissions carry the same one (§16.11).
// It is sent on its own goroutine through Client.Server (required);
// failures are logged. flow is the flow the ACK arrived on (unused for
// now).
func (p *Proxy) ForwardAck(ack *sip.Request, flow transport.Flow) {
	_ = flow
	if p.Client == nil || p.Client.Server == nil || ack.Method != sip.ACK {
		return
	}
	if mf, ok := ack.MaxForwards(); ok && mf <= 0 {
		return // §16.3 step 3; an ACK gets no response
	}
	c := ack.Clone()
	p.preprocessRoute(c)
	if mf, ok := c.MaxForwards(); ok {
		c.SetMaxForwards(mf - 1)
	} else {
		c.SetMaxForwards(70)
	}
	// §16.6 step 6: reformat for a strict router next.
	u := c.URI
	if routes := c.Routes(); len(routes) > 0 {
		if routes[0].URI.Params.Has("lr") {
			u = routes[0].URI
		} else {
			ruri := c.URI
			c.URI = routes[0].URI
			u = c.URI
			setRoutes(c, append(routes[1:len(routes):len(routes)], sip.NameAddr{URI: ruri}))
		}
	}
	c.PrependVia(sip.Via{Transport: "UDP", Host: "invalid", Params: sip.Params(statelessVia(&p.hashes, ack))})
	send := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := p.resolveURI(ctx, &u)
		if err == nil {
			_, err = p.Client.Server.ForwardStateless(ctx, c, d)
		}
		if err != nil {
			p.log().Debug("proxy: forward ACK", logCallID, ack.CallID(), logError, err)
		}
	}
	// To an IP address over UDP nothing can block (no DNS, no dial): send
	// at once, so that the ACK is not overtaken by the BYE that follows it
	// through a transaction. Otherwise on a goroutine of its own, as the
	// caller may be a transport read loop.
	if t, ok := u.Params.Get("transport"); (!ok || strings.EqualFold(t, "udp")) && !u.Secure() && isIP(u.Host) && !u.Params.Has("maddr") {
		send()
		return
	}
	go send()
}

// isIP reports whether host is an IPv4 or IPv6 address (maybe in brackets).
func isIP(host string) bool {
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

// statelessBranch is the branch of a request forwarded statelessly,
// computed as §16.11 recommends so that a retransmission gets the same one:
// "If [the branch ID in the topmost Via of the received request] begins
// with the magic cookie, the first component of the branch ID of the
// outgoing request is computed as a hash of the received branch ID.
// Otherwise, the first component of the branch ID is computed as a hash of
// the topmost Via, the tag in the To header field, the tag in the From
// header field, the Call-ID header field, the CSeq number (but not
// method), and the Request-URI from the received request." The hash is
// keyed with the proxy's secret and also covers the sent-by, since a
// branch is only unique per sender. A CANCEL and the ACK of a non-2xx
// response carry the INVITE's top Via, so they get the INVITE's branch.
func statelessBranch(k *keyedHash, req *sip.Request) string {
	return statelessVia(k, req)[len(";branch="):]
}

// statelessVia returns ";branch=" and the stateless branch of req, the
// parameters of the proxy's Via (one allocation).
func statelessVia(k *keyedHash, req *sip.Request) string {
	h := k.get()
	defer k.put(h)
	v := req.TopVia()
	if v != nil && strings.HasPrefix(v.Branch(), sip.MagicCookie) {
		h.field(v.Branch())
		h.field(v.SentBy())
	} else {
		if v != nil {
			mark := len(h.buf)
			h.buf = v.AppendTo(h.buf)
			h.buf = strconv.AppendInt(h.buf, int64(len(h.buf)-mark), 10)
		}
		if req.Has(string(sip.HeaderTo)) {
			h.field(req.ToTag())
		}
		if req.Has(string(sip.HeaderFrom)) {
			h.field(req.FromTag())
		}
		h.field(req.CallID())
		cs, _ := req.CSeq()
		h.buf = strconv.AppendUint(h.buf, uint64(cs.Seq), 10)
		h.fieldURI(&req.URI)
	}
	var out [len(";branch=") + len(statelessPrefix) + statelessHashLen]byte
	b := append(append(out[:0], ";branch="...), statelessPrefix...)
	return string(h.hex(b, statelessHashLen))
}

// statelessPrefix starts the branches of statelessly forwarded requests.
const statelessPrefix = sip.MagicCookie + "s"

// statelessHashLen is the length of their hash part, in hex digits.
const statelessHashLen = 24

// IsStatelessBranch reports whether branch has the shape of the branches
// this package computes for requests it forwards statelessly (ACKs for
// 2xx, and every request of a [Stateless] proxy): a response with such a
// branch in its top Via is forwarded by its Via, without a transaction.
func IsStatelessBranch(branch string) bool {
	if len(branch) != len(statelessPrefix)+statelessHashLen || !strings.HasPrefix(branch, statelessPrefix) {
		return false
	}
	for i := len(statelessPrefix); i < len(branch); i++ {
		if c := branch[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (p *Proxy) statelessBranch(req *sip.Request) string {
	return statelessBranch(&p.hashes, req)
}

// ForwardResponse forwards statelessly a 2xx response to an INVITE that
// matches no client transaction any more (§16.7 step 5, RFC 6026 §7.1):
// plug it into stack.Server.OnResponse. Other stray responses are dropped.
func (p *Proxy) ForwardResponse(res *sip.Response, flow transport.Flow) {
	_ = flow
	cs, _ := res.CSeq()
	if !res.StatusCode.Success() || cs.Method != sip.INVITE || p.Client == nil || p.Client.Server == nil {
		return
	}
	if vs := res.Vias(); len(vs) < 2 || !ourBranch(vs[0].Branch()) {
		return // not through us, or nowhere to go
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Client.Server.ForwardResponseStateless(ctx, res); err != nil {
		p.log().Debug("proxy: forward stray 2xx", logCallID, res.CallID(), logError, err)
	}
}
