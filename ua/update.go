package ua

import (
	"context"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

// Update modifies the session with an UPDATE (RFC 3311), in an early
// dialog — once the initial offer/answer is complete (§5.1: "the UAC MUST
// NOT send an UPDATE with an offer ... until it has received an answer to
// the initial offer") — or a confirmed one. change edits the offer as for
// Reinvite; nil refreshes the remote target only, without SDP. A 491 is
// retried after the §14.1 delay (RFC 3311 §5.1 refers to it), up to 5
// times; another failure leaves the session unchanged and returns a
// *StatusError.
func (s *Session) Update(ctx context.Context, change func(offer *sdp.Session)) error {
	return s.retryGlare(ctx, func() (*sip.Response, error) { return s.updateOnce(ctx, change) })
}

// current returns the dialog in-dialog requests use: the confirmed one,
// or for an unanswered outgoing call the most recent early one. Called
// with s.mu held.
func (s *Session) current() *dialog.Dialog {
	if s.dlg != nil {
		return s.dlg
	}
	if s.lastLeg != nil {
		return s.lastLeg.dlg
	}
	return nil
}

func (s *Session) updateOnce(ctx context.Context, change func(*sdp.Session)) (*sip.Response, error) {
	s.mu.Lock()
	d := s.current()
	if d == nil || s.state == SessionEnded {
		s.mu.Unlock()
		return nil, ErrWrongState
	}
	var offer *sdp.Session
	if change != nil {
		if s.neg.State() != sdp.Stable {
			s.mu.Unlock()
			return nil, ErrPending
		}
		if s.neg.Local() == nil {
			s.mu.Unlock()
			return nil, ErrWrongState // no completed offer/answer yet
		}
		var err error
		if offer, err = s.newOffer(change); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	req, err := d.NewRequest(sip.UPDATE)
	if err != nil {
		if offer != nil {
			s.neg.Rollback()
		}
		s.mu.Unlock()
		return nil, ErrSessionEnded
	}
	// UPDATE is a target refresh request (RFC 3311 §5.1): Contact.
	s.addCommon(&req.Header, true, true)
	setSDP(req, offer)
	s.mu.Unlock()

	res, err := s.do(ctx, d, req)
	s.mu.Lock()
	if err != nil || !res.StatusCode.Success() {
		if offer != nil && s.neg.State() == sdp.HaveLocalOffer {
			s.neg.Rollback()
		}
		s.mu.Unlock()
		return res, err
	}
	s.noteRecvInfo(&res.Header)
	media := false
	if offer != nil {
		body, perr := sdpOf(res.ContentType(), res.Body)
		if perr == nil && body != nil && s.neg.RemoteAnswer(body) == nil {
			media = true
		} else {
			s.neg.Rollback()
		}
	}
	s.mu.Unlock()
	if media {
		s.notifyMedia()
	}
	return res, nil
}

// serveUpdate answers an UPDATE (RFC 3311 §5.2): the offer is answered in
// the 2xx; "if an UPDATE is received that contains an offer, and the UAS
// has generated an offer ... to which it has not yet received an answer,
// the UAS MUST reject the UPDATE with a 491 response. Similarly, if an
// UPDATE is received that contains an offer, and the UAS has received an
// offer ... to which it has not yet generated an answer, the UAS MUST
// reject the UPDATE with a 500 response, and MUST include a Retry-After
// header field with a randomly chosen value between 0 and 10 seconds."
// The remote target is refreshed by lookup (§12.2.2).
func (u *UA) serveUpdate(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
	s, _ := u.lookup(w, req)
	if s == nil {
		return
	}
	offer, perr := sdpOf(req.ContentType(), req.Body)
	if perr != nil {
		rejectBadOffer(w, req)
		return
	}
	s.mu.Lock()
	s.noteRecvInfo(&req.Header)
	ok := sip.NewResponse(req, sip.StatusOK)
	s.addCommon(&ok.Header, true, req.Has(string(sip.HeaderRecvInfo)))
	media := false
	if offer != nil {
		switch s.neg.State() {
		case sdp.HaveLocalOffer:
			s.mu.Unlock()
			_ = w.Respond(sip.NewResponse(req, sip.StatusRequestPending))
			return
		case sdp.HaveRemoteOffer:
			s.mu.Unlock()
			_ = w.Respond(retryAfter(req))
			return
		}
		err := s.neg.RemoteOffer(offer)
		var a *sdp.Session
		if err == nil {
			if a, err = s.neg.Answer(s.Media); err == nil {
				err = s.neg.LocalAnswer(a)
			}
			if err != nil {
				s.neg.Rollback()
			}
		}
		if err != nil {
			s.mu.Unlock()
			_ = w.Respond(sip.NewResponse(req, sip.StatusNotAcceptableHere))
			return
		}
		setSDP(ok, a)
		media = true
	}
	s.mu.Unlock()
	_ = w.Respond(ok)
	if media {
		s.notifyMedia()
	}
}
