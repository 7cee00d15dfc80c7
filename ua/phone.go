package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// Phone is a simple user agent that places and answers audio calls: SDP
// offer/answer (RFC 3264) with G.711 µ-law, the dialog of RFC 3261 §12,
// the UAS 2xx retransmission until ACK (§13.3.1.4), re-ACK of
// retransmitted 2xx at the UAC (§13.2.2.4) and BYE (§15). It is what
// `parley call` and `parley answer` run.
//
// Install it with Attach before the Server listens.
type Phone struct {
	// Server receives requests; Client sends them from the same addresses.
	Server *stack.Server
	Client *stack.Client
	// Identity is who the phone is; its Contact must be reachable.
	Identity Identity
	// MediaIP is where RTP is received.
	MediaIP netip.Addr
	// Echo makes answered calls send back what they receive instead of a
	// tone.
	Echo bool
	// OnEvent, if set, is told of each step of a call (the call ladder).
	OnEvent func(string)
	// OnCall, if set, is given each answered incoming call.
	OnCall func(*Call)

	dialogs dialog.Registry
	mu      sync.Mutex
	calls   map[dialog.ID]*Call
}

// Call is one call.
type Call struct {
	Dialog *dialog.Dialog
	Media  *Media
	phone  *Phone
	dest   transport.Dest
	done   chan struct{}
	once   sync.Once
}

// Done is closed when the call has ended (BYE sent or received).
func (c *Call) Done() <-chan struct{} { return c.done }

func (c *Call) end() {
	c.once.Do(func() {
		c.Media.Stop()
		c.Dialog.Terminate()
		c.phone.mu.Lock()
		delete(c.phone.calls, c.Dialog.ID())
		c.phone.mu.Unlock()
		c.phone.dialogs.Remove(c.Dialog.ID())
		close(c.done)
	})
}

func (p *Phone) event(format string, a ...any) {
	if p.OnEvent != nil {
		p.OnEvent(fmt.Sprintf(format, a...))
	}
}

// Attach installs the phone's handlers (INVITE, BYE, ACK) on its Server.
func (p *Phone) Attach() {
	mux := &stack.ServeMux{}
	mux.HandleFunc(sip.INVITE, p.serveInvite)
	mux.HandleFunc(sip.BYE, p.serveBye)
	caps := &Capabilities{Methods: []sip.Method{sip.INVITE, sip.BYE, sip.OPTIONS}}
	p.Server.Handler = stack.Chain(mux, Validate(caps, p.Server.Transactions()))
	p.Server.OnAck = p.onAck
}

func (p *Phone) capabilities(m *Media) sdp.Capabilities {
	return sdp.Capabilities{
		Username: "parley",
		Address:  p.MediaIP,
		Ports:    func(string) int { return m.LocalPort() },
		Media: []sdp.MediaCapability{{Type: "audio", PTime: 20 * time.Millisecond,
			Codecs: []sdp.Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}}}},
	}
}

// remoteMedia finds the RTP address and payload type of the first active
// audio stream of s.
func remoteMedia(s *sdp.Session) (netip.AddrPort, uint8, error) {
	for i := range s.Media {
		m := &s.Media[i]
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		c := s.MediaConnection(m)
		if c == nil {
			break
		}
		a, ok := c.Addr()
		if !ok {
			break
		}
		pt := uint8(0)
		if cs := m.Codecs(); len(cs) > 0 {
			pt = uint8(cs[0].PayloadType)
		}
		return netip.AddrPortFrom(a, uint16(m.Port)), pt, nil
	}
	return netip.AddrPort{}, 0, errors.New("ua: no usable audio stream in the SDP")
}

// Dial calls target through d and returns once the call is answered and
// acknowledged, or with the failure.
func (p *Phone) Dial(ctx context.Context, target sip.URI, d transport.Dest) (*Call, error) {
	media, err := ListenMedia(p.MediaIP)
	if err != nil {
		return nil, err
	}
	offer := sdp.NewOffer(p.capabilities(media))
	inv := NewRequest(sip.INVITE, target, p.Identity)
	inv.SetBody("application/sdp", offer.AppendTo(nil))
	p.event("--> INVITE %s", target.String())
	var call *Call
	var mu sync.Mutex
	reAck := func(res *sip.Response) {
		mu.Lock()
		c := call
		mu.Unlock()
		if c != nil && res.StatusCode.Success() && res.To().Tag() == c.Dialog.ID().RemoteTag {
			cs, _ := res.CSeq()
			_, _ = p.Client.SendAck(context.Background(), c.Dialog.NewAck(cs.Seq), c.dest)
			p.event("--> ACK (again, for a retransmitted 200)")
		}
	}
	res, err := p.Client.Do(ctx, inv, stack.WithDest(d),
		stack.WithProvisional(func(r *sip.Response) { p.event("<-- %d %s", r.StatusCode, r.Reason) }),
		stack.WithAfterFinal(reAck))
	if err != nil {
		media.Stop()
		return nil, err
	}
	p.event("<-- %d %s", res.StatusCode, res.Reason)
	if !res.StatusCode.Success() {
		media.Stop()
		return nil, fmt.Errorf("ua: call refused: %d %s", res.StatusCode, res.Reason)
	}
	dlg, err := dialog.NewUAC(inv, res, false)
	if err != nil {
		media.Stop()
		return nil, err
	}
	c := &Call{Dialog: dlg, Media: media, phone: p, dest: p.destFor(dlg, d), done: make(chan struct{})}
	mu.Lock()
	call = c
	mu.Unlock()
	cs, _ := inv.CSeq()
	if _, err := p.Client.SendAck(ctx, dlg.NewAck(cs.Seq), c.dest); err != nil {
		media.Stop()
		return nil, err
	}
	p.event("--> ACK")
	answer, err := sdp.Parse(res.Body)
	if err != nil {
		_ = c.Hangup(ctx)
		return nil, fmt.Errorf("ua: bad SDP answer: %w", err)
	}
	addr, pt, err := remoteMedia(answer)
	if err != nil {
		_ = c.Hangup(ctx)
		return nil, err
	}
	media.Start(addr, pt)
	p.track(c)
	return c, nil
}

// destFor is where in-dialog requests go: the first route or the remote
// target, when it is a numeric address; otherwise the dialog-creating
// request's destination.
func (p *Phone) destFor(d *dialog.Dialog, fallback transport.Dest) transport.Dest {
	u := d.RemoteTarget()
	if rs := d.RouteSet(); len(rs) > 0 {
		u = rs[0].URI
	}
	a, err := netip.ParseAddr(u.Host)
	if err != nil {
		return fallback
	}
	n := fallback.Network
	if t, ok := u.Params.Get("transport"); ok {
		if tn, err := transport.ParseNetwork(t); err == nil {
			n = tn
		}
	}
	port := u.Port
	if port == 0 {
		port = n.DefaultPort()
	}
	return transport.Dest{Network: n, Addr: netip.AddrPortFrom(a, port)}
}

func (p *Phone) track(c *Call) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = make(map[dialog.ID]*Call)
	}
	p.calls[c.Dialog.ID()] = c
	p.mu.Unlock()
	p.dialogs.Add(c.Dialog)
}

// Hangup sends BYE (§15.1.1) and ends the call.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.end()
	bye, err := c.Dialog.NewRequest(sip.BYE)
	if err != nil {
		return err
	}
	c.phone.event("--> BYE")
	res, err := c.phone.Client.Do(ctx, bye, stack.WithDest(c.dest))
	if err != nil {
		return err
	}
	c.phone.event("<-- %d %s", res.StatusCode, res.Reason)
	return nil
}

func (p *Phone) serveInvite(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	p.event("<-- INVITE from %s", req.From().URI.String())
	if req.To().Tag() != "" {
		// A re-INVITE: not supported by this simple phone (§14.2 lets a
		// UAS refuse it).
		_ = w.Respond(sip.NewResponse(req, sip.StatusNotAcceptableHere))
		return
	}
	offer, err := sdp.Parse(req.Body)
	if err != nil {
		// §13.3.1: no offer in the INVITE (an offer in the 2xx) is not
		// supported here either.
		_ = w.Respond(sip.NewResponse(req, sip.StatusNotAcceptableHere))
		return
	}
	media, err := ListenMedia(p.MediaIP)
	if err != nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return
	}
	media.Echo = p.Echo
	answer, err := sdp.Answer(offer, p.capabilities(media))
	if err != nil {
		media.Stop()
		_ = w.Respond(sip.NewResponse(req, sip.StatusNotAcceptableHere))
		return
	}
	tag := sip.NewTag()
	// §12.1.1: "When a UAS responds to a request with a response that
	// establishes a dialog ..., the UAS MUST copy all Record-Route header
	// field values from the request into the response".
	withRR := func(res *sip.Response) {
		for _, rr := range req.RecordRoutes() {
			_ = res.Add(string(sip.HeaderRecordRoute), rr.String())
		}
	}
	ringing := sip.NewResponse(req, sip.StatusRinging)
	ringing.SetToTag(tag)
	withRR(ringing)
	_ = w.Respond(ringing)
	p.event("--> 180 Ringing")
	ok := sip.NewResponse(req, sip.StatusOK)
	ok.SetToTag(tag)
	withRR(ok)
	if p.Identity.Contact != nil {
		ok.SetContacts(sip.Contact{NameAddr: *p.Identity.Contact})
	}
	ok.SetBody("application/sdp", answer.AppendTo(nil))
	dlg, err := dialog.NewUAS(req, ok, false)
	if err != nil {
		media.Stop()
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return
	}
	c := &Call{Dialog: dlg, Media: media, phone: p, dest: p.destFor(dlg, transport.Dest{Network: transport.UDP}), done: make(chan struct{})}
	if f, ok := w.(stack.FlowWriter); ok && !f.Flow().IsZero() {
		c.dest = transport.Dest{Network: f.Flow().Network, Addr: f.Flow().Remote}
		if d2 := p.destFor(dlg, c.dest); d2.Addr.IsValid() {
			c.dest = d2
		}
	}
	p.track(c)
	if err := w.Respond(ok); err != nil {
		c.end()
		return
	}
	p.event("--> 200 OK")
	addr, pt, err := remoteMedia(offer)
	if err == nil {
		media.Start(addr, pt)
	}
	if p.OnCall != nil {
		p.OnCall(c)
	}
	// §13.3.1.4: retransmit the 2xx until the ACK; a ServerTx in the
	// Accepted state passes the retransmissions to the transport.
	tw, _ := w.(stack.TxWriter)
	cs, _ := req.CSeq()
	go func() {
		var tx *transaction.ServerTx
		if tw != nil {
			tx = tw.Transaction()
		}
		reliable := tx == nil || tx.Flow().Reliable()
		err := dialog.Retransmit2xx(context.Background(), transaction.Timers{}, reliable, func() error {
			if tx == nil {
				return nil
			}
			return tx.Respond(context.Background(), ok)
		}, dlg.AckFor(cs.Seq))
		if errors.Is(err, dialog.ErrNoAck) {
			// "the session SHOULD be terminated. This is accomplished
			// with a BYE".
			p.event("no ACK within 64*T1: hanging up")
			_ = c.Hangup(context.Background())
		}
	}()
}

func (p *Phone) onAck(ack *sip.Request, _ transport.Flow) {
	if d, ok := p.dialogs.ForRequest(ack); ok {
		if d.ReceiveRequest(ack) == nil {
			p.event("<-- ACK")
		}
	}
}

func (p *Phone) serveBye(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
	d, ok := p.dialogs.ForRequest(req)
	if !ok {
		_ = w.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist))
		return
	}
	if err := d.ReceiveRequest(req); err != nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return
	}
	p.event("<-- BYE")
	_ = w.Respond(sip.NewResponse(req, sip.StatusOK))
	p.event("--> 200 OK")
	p.mu.Lock()
	c := p.calls[d.ID()]
	p.mu.Unlock()
	if c != nil {
		c.end()
	}
}
