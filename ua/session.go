package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// SessionState is where a Session is.
type SessionState uint8

// Session states.
const (
	// SessionCalling: the INVITE is sent or received, no dialog yet.
	SessionCalling SessionState = iota + 1
	// SessionEarly: an early dialog exists (a provisional with a tag).
	SessionEarly
	// SessionConfirmed: the INVITE was answered 2xx.
	SessionConfirmed
	// SessionEnded: the call is over (rejected, cancelled or hung up).
	SessionEnded
)

// String returns the state's name.
func (s SessionState) String() string {
	switch s {
	case SessionCalling:
		return "calling"
	case SessionEarly:
		return "early"
	case SessionConfirmed:
		return "confirmed"
	case SessionEnded:
		return "ended"
	}
	return fmt.Sprintf("SessionState(%d)", uint8(s))
}

// Errors of sessions.
var (
	// ErrCanceled: the call was cancelled before it was answered (§9).
	ErrCanceled = errors.New("ua: call cancelled")
	// ErrHangup: this UA ended the session with BYE.
	ErrHangup = errors.New("ua: hung up")
	// ErrRemoteHangup: the peer ended the session with BYE.
	ErrRemoteHangup = errors.New("ua: the peer hung up")
	// ErrSessionEnded: the session is over.
	ErrSessionEnded = errors.New("ua: session ended")
	// ErrResponded: the INVITE already has a final response.
	ErrResponded = errors.New("ua: the INVITE already has a final response")
	// ErrPending: an offer or a re-INVITE is already in progress; the
	// RFC answer to that is 491 or 500 (§14.1, RFC 3311 §5.2).
	ErrPending = errors.New("ua: a request of this kind is pending")
	// ErrWrongState: the operation does not fit the session's state (a
	// CANCEL after the final response, a BYE by the callee before 2xx…).
	ErrWrongState = errors.New("ua: not possible in the session's state")
)

// StatusError is a final non-2xx response to a request of a session.
type StatusError struct{ Response *sip.Response }

// Error says which request got which response.
func (e *StatusError) Error() string {
	cs, _ := e.Response.CSeq()
	return fmt.Sprintf("ua: %s answered %d %s", cs.Method, e.Response.StatusCode, e.Response.Reason)
}

// CallOptions configure an outgoing call.
type CallOptions struct {
	// Media is this side's media for the SDP offer/answer (RFC 3264); with
	// no Media entries the INVITE carries no SDP.
	Media sdp.Capabilities
	// LateOffer sends the INVITE without an offer: the offer comes in the
	// 2xx (or a reliable provisional) and the answer goes in the ACK (or
	// PRACK), RFC 3261 §13.2.1, RFC 3262 §5.
	LateOffer bool
	// Require100rel puts Require: 100rel in the INVITE instead of
	// Supported: 100rel (RFC 3262 §4).
	Require100rel bool
	// Dest is where the INVITE goes; nil resolves the Route or
	// Request-URI (RFC 3263). In-dialog requests go to the route set or a
	// numeric remote target, else here.
	Dest *transport.Dest
	// Prepare, if set, is called with the INVITE before it is sent (to add
	// headers).
	Prepare func(*sip.Request)
	// OnProvisional is called with each provisional response (after PRACK
	// handling: retransmitted or out-of-order reliable ones are not
	// passed), on the goroutine running Invite.
	OnProvisional func(s *Session, res *sip.Response)
}

// Session is one call: the INVITE usage (RFC 5057) of a dialog, with its
// offer/answer state. Outgoing ones come from [UA.NewCall] and
// [Session.Invite]; incoming ones are given to [UA.OnInvite]. Its methods
// are safe for concurrent use.
type Session struct {
	// Media is this side's media for offers and answers; set it in
	// OnInvite for an incoming call (CallOptions.Media for an outgoing
	// one). With no Media entries no SDP is sent.
	Media sdp.Capabilities
	// OnMedia, if set, is called after each completed offer/answer
	// exchange with the local and remote descriptions in force.
	OnMedia func(local, remote *sdp.Session)

	ua       *UA
	outgoing bool
	target   sip.URI
	opts     CallOptions
	ready    chan struct{} // UAC: closed when the INVITE's final response is handled
	done     chan struct{}

	mu          sync.Mutex
	state       SessionState
	inv         *sip.Request
	invSeq      uint32
	dlg         *dialog.Dialog
	legs        map[string]*leg // UAC: dialogs by remote tag, early ones and forks
	lastLeg     *leg            // UAC: the most recent early dialog
	acks        map[ackKey]*sip.Request
	neg         sdp.Negotiation
	earlyRemote *sdp.Session // UAC: SDP of an unreliable provisional (preview)
	fallback    *transport.Dest
	err         error
	remoteInfo  []string // RFC 6086 Recv-Info of the peer

	// UAC CANCEL (§9.1)
	provisional, cancelWanted, cancelSent bool
	cancelReason                          *Reason

	// UAS
	w           stack.ResponseWriter
	tx          *transaction.ServerTx
	tag         string
	final       bool
	wClosed     bool
	finalSent   chan struct{}
	acked       chan struct{} // closed on the ACK of our last 2xx to an INVITE, or when waiting for it ends
	awaits      []*dialog.Awaiting2xx
	offerIn2xx  uint32       // CSeq of the INVITE whose 2xx carried our offer (answer due in the ACK)
	earlyAnswer *sdp.Session // answer sent in an unreliable provisional, repeated in the 2xx

	// re-INVITE and UPDATE (§14, RFC 3311)
	reinviting bool // our re-INVITE is in progress
	serving    bool // a received re-INVITE is not yet answered

	// RFC 3262
	peer100rel, require100rel bool
	relMu                     sync.Mutex // one reliable provisional outstanding at a time
	rseq                      uint32
	unpracked                 *reliable
}

// leg is one dialog of an outgoing call (forking gives several).
type leg struct {
	dlg     *dialog.Dialog
	rseq    uint32 // RFC 3262 §4: last in-order RSeq received
	hasRSeq bool
}

type ackKey struct {
	tag string
	seq uint32
}

// reliable is a reliable provisional response awaiting its PRACK.
type reliable struct {
	rseq, cseq uint32
	sdp        bool
	pracked    chan struct{}
}

func (u *UA) newSession(outgoing bool) *Session {
	u.init()
	return &Session{ua: u, outgoing: outgoing, state: SessionCalling, done: make(chan struct{}),
		ready: make(chan struct{}), finalSent: make(chan struct{}),
		legs: map[string]*leg{}, acks: map[ackKey]*sip.Request{}}
}

// NewCall prepares an outgoing call to target; Invite places it.
func (u *UA) NewCall(target sip.URI, o CallOptions) *Session {
	s := u.newSession(true)
	s.target, s.opts, s.Media, s.fallback = target, o, o.Media, o.Dest
	return s
}

// State returns the session's state.
func (s *Session) State() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err tells why the session ended (nil while it runs): ErrHangup,
// ErrRemoteHangup (wrapping the peer's *Reason, if any), ErrCanceled
// (for an incoming call, wrapping the CANCEL's *Reason, if any), a
// *StatusError, dialog.ErrNoAck…
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dialog returns the confirmed dialog (nil before the 2xx; for an
// incoming call, the early dialog once a provisional was sent).
func (s *Session) Dialog() *dialog.Dialog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dlg
}

// Request returns the initial INVITE (nil before Invite).
func (s *Session) Request() *sip.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inv
}

// Outgoing reports whether this UA placed the call.
func (s *Session) Outgoing() bool { return s.outgoing }

// LocalSDP and RemoteSDP return the descriptions of the last completed
// offer/answer exchange (nil before one).
func (s *Session) LocalSDP() *sdp.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neg.Local()
}

// RemoteSDP returns the remote description in force; before the answer,
// for an outgoing call, the SDP of an unreliable provisional (early media).
func (s *Session) RemoteSDP() *sdp.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.neg.Remote(); r != nil {
		return r
	}
	return s.earlyRemote
}

// RemoteOffer returns the outstanding offer received (an incoming
// INVITE's, before Accept), or nil.
func (s *Session) RemoteOffer() *sdp.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.neg.State() == sdp.HaveRemoteOffer {
		return s.neg.Pending()
	}
	return nil
}

func (s *Session) hasMedia() bool { return len(s.Media.Media) > 0 }

// end finishes the session once.
func (s *Session) end(err error) {
	s.mu.Lock()
	if s.state == SessionEnded {
		s.mu.Unlock()
		return
	}
	s.state, s.err = SessionEnded, err
	var ds []*dialog.Dialog
	if s.dlg != nil {
		ds = append(ds, s.dlg)
	}
	for _, l := range s.legs {
		if l.dlg != s.dlg {
			ds = append(ds, l.dlg)
		}
	}
	awaits := s.awaits
	s.awaits = nil
	s.mu.Unlock()
	for _, d := range ds {
		s.ua.forget(d)
		d.Terminate()
	}
	// The 2xx retransmissions end with the session (a BYE that overtook
	// a lost ACK).
	for _, a := range awaits {
		a.Stop()
	}
	close(s.done)
}

// notifyMedia calls OnMedia after a completed exchange.
func (s *Session) notifyMedia() {
	s.mu.Lock()
	f, l, r := s.OnMedia, s.neg.Local(), s.neg.Remote()
	s.mu.Unlock()
	if f != nil && l != nil && r != nil {
		f(l, r)
	}
}

// secure reports whether the initial INVITE travelled over TLS (sent
// there, or received on such a flow), for the dialog's secure flag
// (§12.1.1, §12.1.2; the dialog also requires a sips Request-URI).
func (s *Session) secure() bool {
	if s.tx != nil {
		return s.tx.Flow().Network.Secure()
	}
	return s.fallback != nil && s.fallback.Network.Secure()
}

// destFor is where requests in dialog d go: the first route or the remote
// target when it is a numeric address, else the session's fallback (nil:
// let the Client resolve).
func (s *Session) destFor(d *dialog.Dialog) *transport.Dest {
	u := d.RemoteTarget()
	if rs := d.RouteSet(); len(rs) > 0 {
		u = rs[0].URI
	}
	a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return s.fallback
	}
	n := transport.UDP
	if s.fallback != nil && s.fallback.Network != 0 {
		n = s.fallback.Network
	}
	if t, ok := u.Params.Get("transport"); ok {
		if tn, err := transport.ParseNetwork(t); err == nil {
			n = tn
		}
	} else if u.Secure() {
		n = transport.TLS
	}
	port := u.Port
	if port == 0 {
		port = n.DefaultPort()
	}
	return &transport.Dest{Network: n, Addr: netip.AddrPortFrom(a.Unmap(), port)}
}

// do sends req within dialog d and applies the response to it: §12.2.1.2,
// "If the response for a request within a dialog is a 481 (Call/Transaction
// Does Not Exist) or a 408 (Request Timeout), the UAC SHOULD terminate the
// dialog" (a timeout counts as 408, §8.1.3.1).
func (s *Session) do(ctx context.Context, d *dialog.Dialog, req *sip.Request, opts ...stack.Option) (*sip.Response, error) {
	if dest := s.destFor(d); dest != nil {
		opts = append(opts, stack.WithDest(*dest))
	}
	res, err := s.ua.Client.Do(ctx, req, opts...)
	if err != nil {
		if errors.Is(err, stack.ErrTimeout) {
			s.dialogFailed(d, err)
		}
		return nil, err
	}
	_ = d.ReceiveResponse(res)
	if res.StatusCode == sip.StatusCallTransactionDoesNotExist || res.StatusCode == sip.StatusRequestTimeout {
		s.dialogFailed(d, &StatusError{res})
	}
	return res, nil
}

// dialogFailed ends dialog d: the session if it is the session's dialog,
// otherwise that early leg only.
func (s *Session) dialogFailed(d *dialog.Dialog, err error) {
	s.mu.Lock()
	// An early leg of an outgoing call fails alone: the INVITE's final
	// response decides the call.
	main := s.dlg == d || s.dlg == nil && !s.outgoing
	s.mu.Unlock()
	if main {
		s.end(err)
		return
	}
	s.dropLeg(d)
}

func (s *Session) dropLeg(d *dialog.Dialog) {
	s.mu.Lock()
	delete(s.legs, d.ID().RemoteTag)
	if s.lastLeg != nil && s.lastLeg.dlg == d {
		s.lastLeg = nil
	}
	s.mu.Unlock()
	s.ua.forget(d)
	d.Terminate()
}

// addCommon adds the headers that describe this UA to a request or
// response that can set up or modify the session: Contact (§8.1.1.8,
// §12.1.1), Allow and Supported (§13.2.1: "the UAC SHOULD include the
// Allow and Supported header fields"), and Recv-Info when recvInfo is set
// (RFC 6086 §5.2.3: "The sender of an initial INVITE request MUST include
// a Recv-Info header field ..., even if the sender is not willing to
// receive INFO requests associated with any Info Package"; a response
// carries one only if its request did).
func (s *Session) addCommon(h *sip.Header, contact, recvInfo bool) {
	u := s.ua
	if contact && u.Identity.Contact != nil {
		h.SetContacts(sip.Contact{NameAddr: *u.Identity.Contact})
	}
	_ = h.Add(string(sip.HeaderAllow), u.Capabilities.Allow())
	if len(u.Capabilities.OptionTags) > 0 {
		_ = h.Add(string(sip.HeaderSupported), strings.Join(u.Capabilities.OptionTags, ", "))
	}
	if recvInfo {
		_ = h.Add(string(sip.HeaderRecvInfo), strings.Join(u.Capabilities.InfoPackages, ", "))
	}
}

// noteRecvInfo records the peer's Info Packages from a message that has a
// Recv-Info header (RFC 6086 §5.2). Called with s.mu held.
func (s *Session) noteRecvInfo(h *sip.Header) {
	if h.Has(string(sip.HeaderRecvInfo)) {
		s.remoteInfo = recvInfo(h)
	}
}

func setSDP(h interface{ SetBody(string, []byte) }, s *sdp.Session) {
	if s != nil {
		h.SetBody("application/sdp", s.AppendTo(nil))
	}
}

// sdpOf parses an SDP body; nil when there is none.
// rejectBadOffer answers a request whose SDP offer does not parse or
// cannot be negotiated: 400 (RFC 3261 §21.4.1) with a reason saying so.
func rejectBadOffer(w stack.ResponseWriter, req *sip.Request) {
	res := sip.NewResponse(req, sip.StatusBadRequest)
	res.Reason = "Bad SDP offer"
	_ = w.Respond(res)
}

func sdpOf(ct string, body []byte) (*sdp.Session, error) {
	if len(body) == 0 {
		return nil, nil
	}
	typ, sub, _, err := sip.MediaType(ct)
	if err != nil || !abnf.EqualFold(typ, "application") || !abnf.EqualFold(sub, "sdp") {
		return nil, nil
	}
	return sdp.Parse(body)
}

func recvInfo(h *sip.Header) []string {
	var out []string
	for v := range h.Values(string(sip.HeaderRecvInfo)) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ---- UAC ----

// Invite sends the INVITE and returns when the call is answered (nil: the
// 2xx is ACKed and the session confirmed) or has failed: a *StatusError
// for a final failure response, an error wrapping ErrCanceled after
// Cancel, stack.ErrTimeout or stack.ErrTransport. Cancelling ctx also
// cancels the call (§9.1, without a Reason). Provisional responses go to
// CallOptions.OnProvisional; reliable ones are PRACKed (RFC 3262). Every
// 2xx is ACKed, retransmissions again (§13.2.2.4); the first one is kept,
// and the dialogs of 2xx from other forks are ended with BYE.
func (s *Session) Invite(ctx context.Context) error {
	u := s.ua
	inv := NewRequest(sip.INVITE, s.target, u.Identity)
	s.addCommon(&inv.Header, true, true)
	if s.opts.Require100rel && !u.Disable100rel {
		// RFC 3262 §4: "it inserts a Require header field with the
		// option tag 100rel into the request".
		_ = inv.Add(string(sip.HeaderRequire), "100rel")
	}
	s.mu.Lock()
	if s.inv != nil {
		s.mu.Unlock()
		return ErrWrongState
	}
	if s.hasMedia() && !s.opts.LateOffer {
		offer := sdp.NewOffer(s.Media)
		if err := s.neg.LocalOffer(offer); err != nil {
			s.mu.Unlock()
			return err
		}
		setSDP(inv, offer)
	}
	if s.opts.Prepare != nil {
		s.opts.Prepare(inv)
	}
	cs, _ := inv.CSeq()
	s.inv, s.invSeq = inv, cs.Seq
	s.mu.Unlock()

	opts := []stack.Option{stack.WithProvisional(s.onProvisional), stack.WithAfterFinal(s.afterFinal)}
	if s.opts.Dest != nil {
		opts = append(opts, stack.WithDest(*s.opts.Dest))
	}
	res, err := u.Client.Do(ctx, inv, opts...)
	defer close(s.ready)
	if res != nil && res.StatusCode.Success() {
		sdpErr := s.on2xx(res)
		s.mu.Lock()
		cancelled := s.cancelSent
		s.mu.Unlock()
		if err != nil || cancelled {
			// §9.1 race: the 2xx crossed the CANCEL; the call is ACKed and
			// ended with BYE (§15).
			u.goBackground(func(ctx context.Context) { _ = s.Bye(ctx, s.cancelReason) })
			if err == nil {
				err = ErrCanceled
			}
			return err
		}
		if sdpErr != nil {
			// The 2xx was ACKed and the session is being ended with BYE.
			return fmt.Errorf("ua: unusable SDP answer: %w", sdpErr)
		}
		if e := s.Err(); e != nil {
			return e
		}
		return nil
	}
	s.mu.Lock()
	cancelled := s.cancelSent || s.cancelWanted
	s.mu.Unlock()
	switch {
	case res != nil && (cancelled || err != nil) && res.StatusCode == sip.StatusRequestTerminated:
		err = fmt.Errorf("%w: %w", ErrCanceled, &StatusError{res})
	case res != nil && err == nil:
		err = &StatusError{res}
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	s.end(err)
	return err
}

// legFor returns the leg of a response with a To tag, creating its early
// dialog (§12.1.2, §13.2.2.4: each tag is a separate dialog). Called with
// s.mu held.
func (s *Session) legFor(res *sip.Response) *leg {
	tag := res.To().Tag()
	if l, ok := s.legs[tag]; ok {
		return l
	}
	d, err := dialog.NewUAC(s.inv, res, s.secure())
	if err != nil {
		return nil
	}
	l := &leg{dlg: d}
	s.legs[tag] = l
	s.ua.track(s, d)
	return l
}

// onProvisional handles a 1xx to the INVITE.
func (s *Session) onProvisional(res *sip.Response) {
	s.mu.Lock()
	s.provisional = true
	sendCancel := s.cancelWanted && !s.cancelSent
	if sendCancel {
		s.cancelSent = true
	}
	var l *leg
	if res.StatusCode > 100 && res.To() != nil && res.To().Tag() != "" && s.state != SessionEnded {
		l = s.legFor(res)
		if l != nil && s.state == SessionCalling {
			s.state = SessionEarly
		}
		if l != nil {
			s.lastLeg = l
			s.noteRecvInfo(&res.Header)
		}
	}
	// RFC 3262 §4: a 101–199 with Require: 100rel is reliable.
	rel := l != nil && !s.ua.Disable100rel && res.HasOptionTag(string(sip.HeaderRequire), "100rel")
	var rseq uint32
	if rel {
		n, ok := parseUint32(res.Get(string(sip.HeaderRSeq)))
		switch {
		case !ok:
			rel = false
		case !l.hasRSeq || n == l.rseq+1:
			l.rseq, l.hasRSeq, rseq = n, true, n
		default:
			// "Once a reliable provisional response is received,
			// retransmissions of that response MUST be discarded" and one
			// whose RSeq "is not one higher ... MUST NOT be acknowledged
			// with a PRACK, and MUST NOT be processed further".
			s.mu.Unlock()
			if sendCancel {
				s.sendCancel()
			}
			return
		}
	}
	var prackBody *sdp.Session
	media := false
	if body, err := sdpOf(res.ContentType(), res.Body); err == nil && body != nil {
		switch {
		case rel && s.neg.State() == sdp.HaveLocalOffer:
			// RFC 3262 §5: the answer in a reliable provisional counts.
			if s.neg.RemoteAnswer(body) == nil {
				media = true
			}
		case rel && s.neg.State() == sdp.Stable && s.neg.Local() == nil:
			// "If the UAC receives a reliable provisional response with
			// an offer ..., it MUST generate an answer in the PRACK."
			if s.neg.RemoteOffer(body) == nil {
				if a, err := s.neg.Answer(s.Media); err == nil && s.neg.LocalAnswer(a) == nil {
					prackBody, media = a, true
				} else {
					s.neg.Rollback()
				}
			}
		default:
			s.earlyRemote = body // early media preview (§13.2.1)
		}
	}
	s.mu.Unlock()
	if sendCancel {
		s.sendCancel()
	}
	if rel {
		s.prack(l.dlg, rseq, prackBody)
	}
	if media {
		s.notifyMedia()
	}
	if f := s.opts.OnProvisional; f != nil {
		f(s, res)
	}
}

// prack acknowledges a reliable provisional (RFC 3262 §4: "the UAC MUST
// create a new request with method PRACK ... sent within the dialog
// associated with the provisional response"), on a background goroutine so
// that the INVITE's responses keep flowing.
func (s *Session) prack(d *dialog.Dialog, rseq uint32, body *sdp.Session) {
	req, err := d.NewRequest(sip.PRACK)
	if err != nil {
		return
	}
	// RFC 3262 §7.2: RAck = response-num CSeq-num Method.
	_ = req.Add(string(sip.HeaderRAck), fmt.Sprintf("%d %d INVITE", rseq, s.invSeq))
	setSDP(req, body)
	s.ua.goBackground(func(ctx context.Context) {
		_, _ = s.do(ctx, d, req)
	})
}

func parseUint32(v string) (uint32, bool) {
	var n uint64
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(v[i]-'0')
	}
	if n == 0 || n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

// afterFinal sees the INVITE transaction's responses after its first 2xx:
// retransmissions and 2xx from other forks.
func (s *Session) afterFinal(res *sip.Response) {
	<-s.ready
	if res.StatusCode.Success() {
		_ = s.on2xx(res)
	}
}

// on2xx handles a 2xx to an INVITE of this session (the initial one or a
// re-INVITE): §13.2.2.4, "The UAC core MUST generate an ACK request for
// each 2xx received from the transaction layer"; a retransmission gets the
// same ACK again; "If the dialog identifier in the 2xx response matches
// the dialog identifier of an existing dialog, the dialog MUST be
// transitioned to the 'confirmed' state"; and a 2xx creating another
// dialog than the one kept is ACKed, then "the UAC ... MUST terminate the
// dialog by sending a BYE request".
func (s *Session) on2xx(res *sip.Response) (sdpErr error) {
	to := res.To()
	if to == nil {
		return nil
	}
	cs, _ := res.CSeq()
	key := ackKey{to.Tag(), cs.Seq}
	s.mu.Lock()
	if ack, ok := s.acks[key]; ok {
		d := s.legs[key.tag]
		s.mu.Unlock()
		if d != nil {
			s.sendAck(d.dlg, ack)
		} else if s.dlg != nil && s.dlg.ID().RemoteTag == key.tag {
			s.sendAck(s.dlg, ack)
		}
		return nil
	}
	if cs.Seq != s.invSeq {
		// A re-INVITE's 2xx is ACKed by Reinvite itself.
		s.mu.Unlock()
		return nil
	}
	l := s.legFor(res)
	if l == nil {
		s.mu.Unlock()
		return nil
	}
	_ = l.dlg.ReceiveResponse(res)
	keep := s.dlg == nil && s.state != SessionEnded
	ack := l.dlg.NewAck(cs.Seq)
	media := false
	if keep {
		s.dlg, s.state, s.final = l.dlg, SessionConfirmed, true
		s.noteRecvInfo(&res.Header)
		body, err := sdpOf(res.ContentType(), res.Body)
		switch {
		case err != nil:
			sdpErr = err
		case body != nil && s.neg.State() == sdp.HaveLocalOffer:
			sdpErr = s.neg.RemoteAnswer(body)
			media = sdpErr == nil
		case body != nil && s.neg.State() == sdp.Stable && s.neg.Local() == nil:
			// Late offer: the offer is in the 2xx, the answer in the ACK
			// (§13.2.1).
			if sdpErr = s.neg.RemoteOffer(body); sdpErr == nil {
				var a *sdp.Session
				if a, sdpErr = s.neg.Answer(s.Media); sdpErr == nil {
					sdpErr = s.neg.LocalAnswer(a)
					setSDP(ack, a)
					media = sdpErr == nil
				} else {
					s.neg.Rollback()
				}
			}
		case body == nil && s.neg.State() == sdp.HaveLocalOffer:
			sdpErr = errors.New("ua: the 2xx has no SDP answer")
		}
		// The early dialogs of other forks end with the final response
		// (§13.2.2.4 leaves them to Timer M; a later 2xx creates a new
		// dialog, which is ACKed and ended with BYE).
		for tag, o := range s.legs {
			if o != l {
				delete(s.legs, tag)
				s.ua.forget(o.dlg)
				o.dlg.Terminate()
			}
		}
	}
	s.acks[key] = ack
	s.mu.Unlock()
	s.sendAck(l.dlg, ack)
	switch {
	case !keep:
		s.ua.goBackground(func(ctx context.Context) {
			defer s.dropLeg(l.dlg)
			if bye, err := s.byeRequest(l.dlg, ReasonCompletedElsewhere); err == nil {
				_ = s.sendBye(ctx, l.dlg, bye)
			}
		})
	case sdpErr != nil:
		// The answer is unusable: end the session (the ACK went first,
		// as §13.2.2.4 requires).
		s.ua.goBackground(func(ctx context.Context) {
			_ = s.Bye(ctx, &Reason{Protocol: "SIP", Cause: int(sip.StatusNotAcceptableHere), Text: "Bad SDP"})
		})
	case media:
		s.notifyMedia()
	}
	return sdpErr
}

// sendAck passes an ACK for a 2xx to the transport (it has no transaction,
// §17.1.1.3).
func (s *Session) sendAck(d *dialog.Dialog, ack *sip.Request) {
	dest := s.destFor(d)
	if dest == nil {
		return
	}
	_, _ = s.ua.Client.SendAck(context.Background(), ack, *dest)
}

// Cancel cancels an outgoing call that has no final response yet (§9.1),
// with an optional Reason (RFC 3326). "If no provisional response has been
// received, the CANCEL request MUST NOT be sent; rather, the client MUST
// wait for the arrival of a provisional response": Cancel then only
// records the wish. Invite still waits for the final response (normally
// 487) and returns an error wrapping ErrCanceled.
func (s *Session) Cancel(reason *Reason) error {
	s.mu.Lock()
	if !s.outgoing || s.final || s.state == SessionEnded || s.inv == nil {
		s.mu.Unlock()
		return ErrWrongState
	}
	if s.cancelWanted {
		s.mu.Unlock()
		return nil
	}
	s.cancelWanted, s.cancelReason = true, reason
	send := s.provisional
	if send {
		s.cancelSent = true
	}
	s.mu.Unlock()
	if send {
		s.sendCancel()
	}
	return nil
}

// sendCancel builds the CANCEL of §9.1 (stack.NewCancel) with the Reason
// and sends it where the INVITE went; its own outcome does not matter.
func (s *Session) sendCancel() {
	s.mu.Lock()
	c := stack.NewCancel(s.inv)
	if s.cancelReason != nil {
		_ = c.Add(string(sip.HeaderReason), s.cancelReason.String())
	}
	dest := s.opts.Dest
	s.mu.Unlock()
	var opts []stack.Option
	if dest != nil {
		opts = append(opts, stack.WithDest(*dest))
	}
	s.ua.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, s.ua.Timers.F())
		defer cancel()
		_, _ = s.ua.Client.Do(ctx, c, opts...)
	})
}

// Bye ends the session with BYE (§15.1.1), with an optional Reason (RFC
// 3326). The caller may BYE a confirmed or early dialog (every early
// dialog of the call; the callee then answers the INVITE 487); the callee
// only a confirmed one, and "MUST NOT send a BYE on a confirmed dialog
// until it has received an ACK for its 2xx response or until the server
// transaction times out" — Bye waits for that. The session ends when the
// BYE is sent ("as soon as the BYE is sent").
func (s *Session) Bye(ctx context.Context, reason *Reason) error {
	s.mu.Lock()
	if s.state == SessionEnded {
		s.mu.Unlock()
		return ErrSessionEnded
	}
	if s.outgoing && s.dlg == nil {
		var ds []*dialog.Dialog
		for _, l := range s.legs {
			ds = append(ds, l.dlg)
		}
		s.mu.Unlock()
		if len(ds) == 0 {
			return ErrWrongState
		}
		for _, d := range ds {
			bye, err := s.byeRequest(d, reason)
			if err != nil {
				return err
			}
			err = s.sendBye(ctx, d, bye)
			s.dropLeg(d)
			if err != nil {
				return err
			}
		}
		return nil
	}
	if !s.outgoing && !s.final {
		s.mu.Unlock()
		return fmt.Errorf("%w: the callee ends an unanswered call with Reject (§15)", ErrWrongState)
	}
	d, acked := s.dlg, s.acked
	s.mu.Unlock()
	if acked != nil {
		select {
		case <-acked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bye, err := s.byeRequest(d, reason)
	if err != nil {
		return err
	}
	var endErr error = ErrHangup
	if reason != nil {
		endErr = fmt.Errorf("%w (%w)", ErrHangup, reason)
	}
	s.end(endErr)
	return s.sendBye(ctx, d, bye)
}

// byeRequest builds a BYE in d with the Reason (RFC 3326).
func (s *Session) byeRequest(d *dialog.Dialog, reason *Reason) (*sip.Request, error) {
	if d == nil {
		return nil, ErrWrongState
	}
	bye, err := d.NewRequest(sip.BYE)
	if err != nil {
		return nil, ErrSessionEnded
	}
	if reason != nil {
		_ = bye.Add(string(sip.HeaderReason), reason.String())
	}
	return bye, nil
}

// sendBye sends bye; the dialog may already be terminated locally.
func (s *Session) sendBye(ctx context.Context, d *dialog.Dialog, bye *sip.Request) error {
	dest := s.destFor(d)
	var opts []stack.Option
	if dest != nil {
		opts = append(opts, stack.WithDest(*dest))
	}
	res, err := s.ua.Client.Do(ctx, bye, opts...)
	if err != nil {
		return err
	}
	if !res.StatusCode.Success() && res.StatusCode != sip.StatusCallTransactionDoesNotExist {
		return &StatusError{res}
	}
	return nil
}

// ---- UAS ----

func (u *UA) serveInvite(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	if req.To() != nil && req.To().Tag() != "" {
		u.serveReinvite(ctx, w, req)
		return
	}
	if u.OnInvite == nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusTemporarilyUnavailable))
		return
	}
	s := u.newSession(false)
	cs, _ := req.CSeq()
	s.inv, s.invSeq, s.w, s.tag = req, cs.Seq, w, sip.NewTag()
	if tw, ok := w.(stack.TxWriter); ok {
		s.tx = tw.Transaction()
	}
	if fw, ok := w.(stack.FlowWriter); ok && !fw.Flow().IsZero() {
		s.fallback = &transport.Dest{Network: fw.Flow().Network, Addr: fw.Flow().Remote}
	}
	s.require100rel = req.HasOptionTag(string(sip.HeaderRequire), "100rel")
	s.peer100rel = !u.Disable100rel && (s.require100rel || req.HasOptionTag(string(sip.HeaderSupported), "100rel"))
	s.remoteInfo = recvInfo(&req.Header)
	offer, err := sdpOf(req.ContentType(), req.Body)
	if err == nil && offer != nil {
		err = s.neg.RemoteOffer(offer)
	}
	if err != nil {
		rejectBadOffer(w, req)
		return
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				// The stack answers 500; the session must not stay
				// registered.
				s.mu.Lock()
				s.wClosed = true
				s.mu.Unlock()
				s.end(fmt.Errorf("ua: OnInvite panicked: %v", p))
				panic(p)
			}
		}()
		u.OnInvite(ctx, s)
	}()
	// The answer may come from another goroutine: wait for it, for the
	// CANCEL, or for the proxies' Timer C (§16.6 step 11: > 3 min).
	t := time.NewTimer(transaction.Timers{}.C())
	defer t.Stop()
	select {
	case <-s.finalSent:
	case <-ctx.Done():
	case <-u.ctx.Done():
	case <-t.C:
	}
	s.mu.Lock()
	s.wClosed = true
	final := s.final
	s.mu.Unlock()
	if final {
		return
	}
	if cause := context.Cause(ctx); errors.Is(cause, stack.ErrCanceled) {
		// §9.2: the stack answers the INVITE 487 when we return. The
		// CANCEL's Reason (RFC 3326) is kept: "Call completed elsewhere"
		// is not a missed call.
		var ce *stack.CancelError
		if errors.As(cause, &ce) && ce.Request != nil {
			if r := reasonOf(&ce.Request.Header); r != nil {
				s.end(fmt.Errorf("%w: %w", ErrCanceled, r))
				return
			}
		}
		s.end(ErrCanceled)
		return
	}
	res := s.response(sip.StatusTemporarilyUnavailable)
	_ = w.Respond(res)
	s.end(&StatusError{res})
}

// response builds a response to the initial INVITE with our To tag;
// dialog-creating ones (101–299) copy Record-Route (§12.1.1: "the UAS MUST
// copy all Record-Route header field values from the request into the
// response") and carry Contact.
func (s *Session) response(code sip.StatusCode) *sip.Response {
	res := sip.NewResponse(s.inv, code)
	if code > 100 {
		res.SetToTag(s.tag)
	}
	if code > 100 && code < 300 {
		for _, rr := range s.inv.RecordRoutes() {
			_ = res.Add(string(sip.HeaderRecordRoute), rr.String())
		}
		s.addCommon(&res.Header, true, s.inv.Has(string(sip.HeaderRecvInfo)))
	}
	return res
}

// earlyDialog creates the UAS dialog with the first tagged response.
// Called with s.mu held.
func (s *Session) earlyDialog(res *sip.Response) error {
	if s.dlg != nil {
		return nil
	}
	d, err := dialog.NewUAS(s.inv, res, s.secure())
	if err != nil {
		return err
	}
	s.dlg = d
	s.ua.track(s, d)
	if s.state == SessionCalling {
		s.state = SessionEarly
	}
	return nil
}

// Progress sends a provisional response (101–199) to an incoming call,
// creating the early dialog. With earlyMedia it carries SDP: the answer to
// the INVITE's offer (183 Session Progress with early media) or, when the
// INVITE had none and the response is reliable, the offer (RFC 3262 §5).
// When the caller supports 100rel (RFC 3262) the response is sent reliably
// and Progress returns once it is PRACKed; after 64·T1 without PRACK the
// call is rejected 500 (§3) and Progress returns dialog.ErrNoPrack.
func (s *Session) Progress(ctx context.Context, code sip.StatusCode, earlyMedia bool) error {
	if s.outgoing || code <= 100 || code > 199 {
		return ErrWrongState
	}
	s.mu.Lock()
	rel := s.peer100rel
	s.mu.Unlock()
	if rel {
		return s.progressReliable(ctx, code, earlyMedia)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final || s.wClosed {
		return ErrResponded
	}
	res := s.response(code)
	if earlyMedia && s.hasMedia() && s.neg.State() == sdp.HaveRemoteOffer {
		// An answer in an unreliable provisional is a preview; the 2xx
		// repeats it and only then is it the answer (§13.2.1).
		if s.earlyAnswer == nil {
			a, err := s.neg.Answer(s.Media)
			if err != nil {
				return err
			}
			s.earlyAnswer = a
		}
		setSDP(res, s.earlyAnswer)
	}
	if err := s.earlyDialog(res); err != nil {
		return err
	}
	return s.w.Respond(res)
}

// Accept answers the call 2xx (200 OK) with the SDP answer (or, for an
// INVITE without an offer, the offer; the answer then comes in the ACK)
// and retransmits it until the ACK arrives (§13.3.1.4); without an ACK
// within 64·T1 the session is ended with BYE.
func (s *Session) Accept() error {
	if s.outgoing {
		return ErrWrongState
	}
	// RFC 3262 §5: "If the UAS had placed a session description in any
	// reliable provisional response that is unacknowledged when the INVITE
	// is accepted, the UAS MUST delay sending the 2xx until the provisional
	// response is acknowledged."
	s.mu.Lock()
	p := s.unpracked
	s.mu.Unlock()
	if p != nil && p.sdp {
		t := time.NewTimer(64 * s.ua.Timers.A())
		select {
		case <-p.pracked:
		case <-t.C:
		case <-s.done:
		}
		t.Stop()
	}
	s.mu.Lock()
	if s.final || s.wClosed || s.state == SessionEnded {
		s.mu.Unlock()
		return ErrResponded
	}
	ok := s.response(sip.StatusOK)
	if s.hasMedia() {
		switch {
		case s.neg.State() == sdp.HaveRemoteOffer:
			a := s.earlyAnswer
			if a == nil {
				var err error
				if a, err = s.neg.Answer(s.Media); err != nil {
					s.mu.Unlock()
					_ = s.Reject(sip.StatusNotAcceptableHere)
					return err
				}
			}
			if err := s.neg.LocalAnswer(a); err != nil {
				s.mu.Unlock()
				_ = s.Reject(sip.StatusNotAcceptableHere)
				return err
			}
			setSDP(ok, a)
		case s.neg.State() == sdp.Stable && s.neg.Local() == nil:
			offer := sdp.NewOffer(s.Media)
			if err := s.neg.LocalOffer(offer); err == nil {
				setSDP(ok, offer)
				s.offerIn2xx = s.invSeq
			}
		}
	}
	if err := s.earlyDialog(ok); err != nil {
		s.mu.Unlock()
		return err
	}
	s.dlg.Confirm()
	s.acked = make(chan struct{})
	err := s.w.Respond(ok)
	if err != nil {
		s.mu.Unlock()
		s.end(err)
		return err
	}
	s.final, s.state = true, SessionConfirmed
	close(s.finalSent)
	acked, tx, d := s.acked, s.tx, s.dlg
	s.mu.Unlock()
	s.notifyMedia()
	s.retransmit2xx(d, s.invSeq, tx, ok, acked)
	return nil
}

// retransmit2xx runs §13.3.1.4 for a 2xx sent through tx to the INVITE
// with CSeq seq (dialog.Await2xx: timers, no goroutine): retransmissions
// until ACK, and BYE after 64·T1 without one: "If the server retransmits
// the 2xx response for 64*T1 seconds without receiving an ACK, the dialog
// is confirmed, but the session SHOULD be terminated. This is accomplished
// with a BYE". acked is closed when waiting ends.
func (s *Session) retransmit2xx(d *dialog.Dialog, seq uint32, tx *transaction.ServerTx, ok *sip.Response, acked chan struct{}) {
	reliable := tx == nil || tx.Flow().Reliable()
	a := d.Await2xx(seq, s.ua.Timers, reliable, func() error {
		if tx == nil {
			return nil
		}
		return tx.Respond(context.Background(), ok)
	}, func(err error) {
		close(acked)
		if !errors.Is(err, dialog.ErrNoAck) {
			return
		}
		bye, berr := s.byeRequest(d, nil)
		s.end(dialog.ErrNoAck)
		if berr != nil {
			return
		}
		s.ua.goBackground(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, s.ua.Timers.F())
			defer cancel()
			_ = s.sendBye(ctx, d, bye)
		})
	})
	s.mu.Lock()
	if s.state == SessionEnded {
		s.mu.Unlock()
		a.Stop()
		return
	}
	s.awaits = append(s.awaits, a)
	s.mu.Unlock()
}

// stopAwaits stops the session's 2xx retransmissions (UA.Close).
func (s *Session) stopAwaits() {
	s.mu.Lock()
	awaits := s.awaits
	s.awaits = nil
	s.mu.Unlock()
	for _, a := range awaits {
		a.Stop()
	}
}

// Reject refuses an incoming call with a final response of 300–699.
func (s *Session) Reject(code sip.StatusCode) error {
	if s.outgoing || code < 300 {
		return ErrWrongState
	}
	s.mu.Lock()
	if s.final || s.wClosed {
		s.mu.Unlock()
		return ErrResponded
	}
	res := s.response(code)
	err := s.w.Respond(res)
	s.final = true
	close(s.finalSent)
	s.mu.Unlock()
	s.end(&StatusError{res})
	return err
}

// receiveAck handles the ACK of one of our 2xx (the dialog has already
// matched it and closed its AckFor channel): an answer in it completes a
// late offer.
func (s *Session) receiveAck(ack *sip.Request) {
	body, err := sdpOf(ack.ContentType(), ack.Body)
	cs, _ := ack.CSeq()
	s.mu.Lock()
	media := false
	if s.offerIn2xx != 0 && s.offerIn2xx == cs.Seq && s.neg.State() == sdp.HaveLocalOffer {
		s.offerIn2xx = 0
		if err == nil && body != nil && s.neg.RemoteAnswer(body) == nil {
			media = true
		} else {
			s.neg.Rollback()
		}
	}
	s.mu.Unlock()
	if media {
		s.notifyMedia()
	}
}

func (u *UA) serveBye(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
	s, _ := u.lookup(w, req)
	if s == nil {
		return
	}
	// §15.1.2: "the UAS MUST still respond to any pending requests
	// received for that dialog. It is RECOMMENDED that a 487 (Request
	// Terminated) response be generated to those pending requests."
	s.mu.Lock()
	if !s.outgoing && !s.final && !s.wClosed {
		_ = s.w.Respond(s.response(sip.StatusRequestTerminated))
		s.final = true
		close(s.finalSent)
	}
	s.mu.Unlock()
	_ = w.Respond(sip.NewResponse(req, sip.StatusOK))
	var err error = ErrRemoteHangup
	if r := reasonOf(&req.Header); r != nil {
		err = fmt.Errorf("%w (%w)", ErrRemoteHangup, r)
	}
	s.mu.Lock()
	early := s.outgoing && s.dlg == nil
	s.mu.Unlock()
	if d, ok := u.dialogs.ForRequest(req); ok && early {
		s.dropLeg(d)
		return
	}
	s.end(err)
}
