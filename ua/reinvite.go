package ua

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
)

// maxGlareRetries bounds the 491 retries of one Reinvite or Update.
const maxGlareRetries = 5

// Reinvite modifies the confirmed session with a re-INVITE (§14.1) that
// also refreshes the remote target (our Contact). change edits the new
// offer, a copy of the local description with its version raised (RFC 3264
// §8); nil sends the current description unchanged (a refresh, §8: same
// version). A session without media sends no SDP. On 491 Request Pending
// the re-INVITE is retried after the §14.1 delay (dialog.GlareDelay),
// up to 5 times; another failure leaves the session as it was ("the
// session parameters MUST remain unchanged") and returns a *StatusError.
// ErrPending means a re-INVITE or an offer is already in progress.
func (s *Session) Reinvite(ctx context.Context, change func(offer *sdp.Session)) error {
	return s.retryGlare(ctx, func() (*sip.Response, error) { return s.reinviteOnce(ctx, change) })
}

// retryGlare runs one re-INVITE or UPDATE attempt until it is not answered
// 491, with the §14.1 delays (dialog.RetryGlare); the Call-ID owner is
// the UA that placed the call.
func (s *Session) retryGlare(ctx context.Context, attempt func() (*sip.Response, error)) error {
	var last *sip.Response
	err := dialog.RetryGlare(ctx, s.outgoing, maxGlareRetries, nil, func() (bool, error) {
		res, err := attempt()
		if err != nil {
			return false, err
		}
		last = res
		return res.StatusCode == sip.StatusRequestPending, nil
	})
	switch {
	case errors.Is(err, dialog.ErrGlare):
		return fmt.Errorf("%w: %w", ErrPending, &StatusError{last})
	case err != nil:
		return err
	case !last.StatusCode.Success():
		return &StatusError{last}
	}
	return nil
}

// Hold puts the session on hold (RFC 3264 §8.4) with a re-INVITE.
func (s *Session) Hold(ctx context.Context) error {
	return s.Reinvite(ctx, (*sdp.Session).Hold)
}

// Resume takes the session off hold with a re-INVITE.
func (s *Session) Resume(ctx context.Context) error {
	return s.Reinvite(ctx, (*sdp.Session).Resume)
}

// newOffer builds the offer of a re-INVITE or UPDATE and records it; nil
// when the session has no media. Called with s.mu held.
func (s *Session) newOffer(change func(*sdp.Session)) (*sdp.Session, error) {
	if !s.hasMedia() || s.neg.Local() == nil {
		return nil, nil
	}
	var offer *sdp.Session
	if change == nil {
		offer = s.neg.Refresh()
	} else {
		offer = s.neg.Local().Reoffer()
		change(offer)
	}
	if err := s.neg.LocalOffer(offer); err != nil {
		if errors.Is(err, sdp.ErrOfferPending) {
			return nil, ErrPending
		}
		return nil, err
	}
	return offer, nil
}

func (s *Session) reinviteOnce(ctx context.Context, change func(*sdp.Session)) (*sip.Response, error) {
	// §14.1: "a UAC MUST NOT initiate a new INVITE transaction within a
	// dialog while another INVITE transaction is in progress in either
	// direction": wait for the ACK of the last 2xx we sent (or the end of
	// its retransmissions).
	s.mu.Lock()
	acked := s.acked
	s.mu.Unlock()
	if acked != nil {
		select {
		case <-acked:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	if s.state != SessionConfirmed || s.dlg == nil {
		s.mu.Unlock()
		return nil, ErrWrongState
	}
	if s.reinviting || s.serving {
		s.mu.Unlock()
		return nil, ErrPending
	}
	d := s.dlg
	offer, err := s.newOffer(change)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	req, err := d.NewRequest(sip.INVITE)
	if err != nil {
		s.neg.Rollback()
		s.mu.Unlock()
		return nil, ErrSessionEnded
	}
	s.addCommon(&req.Header, true, true)
	setSDP(req, offer)
	s.reinviting = true
	s.mu.Unlock()

	res, err := s.do(ctx, d, req, stack.WithAfterFinal(func(r *sip.Response) { _ = s.on2xx(r) }))
	s.mu.Lock()
	s.reinviting = false
	if err != nil {
		if offer != nil {
			s.neg.Rollback()
		}
		s.mu.Unlock()
		return nil, err
	}
	if !res.StatusCode.Success() {
		// §14.1: "If a UA receives a non-2xx final response to a
		// re-INVITE, the session parameters MUST remain unchanged".
		if offer != nil {
			s.neg.Rollback()
		}
		s.mu.Unlock()
		return res, nil
	}
	cs, _ := req.CSeq()
	ack := d.NewAck(cs.Seq)
	body, perr := sdpOf(res.ContentType(), res.Body)
	media := false
	switch {
	case offer != nil && perr == nil && body != nil:
		media = s.neg.RemoteAnswer(body) == nil
		if !media {
			s.neg.Rollback()
		}
	case offer != nil:
		s.neg.Rollback()
	case offer == nil && perr == nil && body != nil && s.hasMedia():
		// We sent no offer: the 2xx carries one, the ACK our answer.
		if s.neg.RemoteOffer(body) == nil {
			if a, err := s.neg.Answer(s.Media); err == nil && s.neg.LocalAnswer(a) == nil {
				setSDP(ack, a)
				media = true
			} else {
				s.neg.Rollback()
			}
		}
	}
	s.noteRecvInfo(&res.Header)
	s.acks[ackKey{d.ID().RemoteTag, cs.Seq}] = ack
	s.mu.Unlock()
	s.sendAck(d, ack)
	if media {
		s.notifyMedia()
	}
	return res, nil
}

// serveReinvite answers an INVITE within a dialog (§14.2).
func (u *UA) serveReinvite(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
	d, ok := u.dialogs.ForRequest(req)
	var s *Session
	if ok {
		u.mu.Lock()
		s = u.sessions[d.ID()]
		u.mu.Unlock()
	}
	if s == nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist))
		return
	}
	s.mu.Lock()
	switch {
	case s.reinviting || s.neg.State() == sdp.HaveLocalOffer:
		// §14.2: "A UAS that receives an INVITE on a dialog while an
		// INVITE it had sent on that dialog is in progress MUST return a
		// 491 (Request Pending) response"; an offer of ours outstanding in
		// an UPDATE or PRACK overlaps too (RFC 3311 §5.2).
		s.mu.Unlock()
		_ = w.Respond(sip.NewResponse(req, sip.StatusRequestPending))
		return
	case s.serving || (!s.outgoing && !s.final) || s.neg.State() == sdp.HaveRemoteOffer:
		// "A UAS that receives a second INVITE before it sends the final
		// response to a first INVITE with a lower CSeq sequence number on
		// the same dialog MUST return a 500 (Server Internal Error)
		// response and MUST include a Retry-After header field with a
		// randomly chosen value of between 0 and 10 seconds."
		s.mu.Unlock()
		_ = w.Respond(retryAfter(req))
		return
	}
	s.mu.Unlock()
	if err := d.ReceiveRequest(req); err != nil {
		_ = w.Respond(sip.NewResponse(req, sip.StatusServerInternalError))
		return
	}
	offer, perr := sdpOf(req.ContentType(), req.Body)
	if perr != nil {
		rejectBadOffer(w, req)
		return
	}
	s.mu.Lock()
	s.serving = true
	s.noteRecvInfo(&req.Header)
	ok200 := sip.NewResponse(req, sip.StatusOK)
	s.addCommon(&ok200.Header, true, req.Has(string(sip.HeaderRecvInfo)))
	answered := false
	if s.hasMedia() {
		if offer != nil {
			if err := s.neg.RemoteOffer(offer); err != nil {
				s.serving = false
				s.mu.Unlock()
				_ = w.Respond(retryAfter(req))
				return
			}
			a, err := s.neg.Answer(s.Media)
			if err == nil {
				err = s.neg.LocalAnswer(a)
			}
			if err != nil {
				// §14.2: an unacceptable offer gets 488 and changes
				// nothing.
				s.neg.Rollback()
				s.serving = false
				s.mu.Unlock()
				_ = w.Respond(sip.NewResponse(req, sip.StatusNotAcceptableHere))
				return
			}
			setSDP(ok200, a)
			answered = true
		} else if o := s.neg.Refresh(); o != nil && s.neg.LocalOffer(o) == nil {
			// §14.2: a re-INVITE without an offer asks for one in the 2xx;
			// the answer comes in the ACK.
			setSDP(ok200, o)
			cs, _ := req.CSeq()
			s.offerIn2xx = cs.Seq
		}
	}
	cs, _ := req.CSeq()
	err := w.Respond(ok200)
	s.serving = false
	acked := make(chan struct{})
	if err == nil {
		s.acked = acked
	}
	s.mu.Unlock()
	if err != nil {
		return
	}
	if answered {
		s.notifyMedia()
	}
	var tx *transaction.ServerTx
	if tw, ok := w.(stack.TxWriter); ok {
		tx = tw.Transaction()
	}
	s.retransmit2xx(d, cs.Seq, tx, ok200, acked)
}
