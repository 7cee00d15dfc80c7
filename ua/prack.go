package ua

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

// progressReliable sends a reliable provisional response (RFC 3262 §3)
// and waits for its PRACK.
func (s *Session) progressReliable(ctx context.Context, code sip.StatusCode, earlyMedia bool) error {
	// "The UAS MUST NOT send a second reliable provisional response until
	// the first is acknowledged": one at a time.
	s.relMu.Lock()
	defer s.relMu.Unlock()
	s.mu.Lock()
	if s.final || s.wClosed {
		s.mu.Unlock()
		return ErrResponded
	}
	res := s.response(code)
	hasSDP := false
	if s.hasMedia() {
		switch {
		case earlyMedia && s.neg.State() == sdp.HaveRemoteOffer:
			// RFC 3262 §5: "the UAS MAY generate an answer in a reliable
			// provisional response".
			a, err := s.neg.Answer(s.Media)
			if err == nil {
				err = s.neg.LocalAnswer(a)
			}
			if err != nil {
				s.mu.Unlock()
				return err
			}
			setSDP(res, a)
			hasSDP = true
		case s.neg.State() == sdp.Stable && s.neg.Local() == nil:
			// "if a reliable provisional response is the first reliable
			// message sent back to the UAC, and the INVITE did not contain
			// an offer, one MUST appear in that reliable provisional".
			offer := sdp.NewOffer(s.Media)
			if err := s.neg.LocalOffer(offer); err != nil {
				s.mu.Unlock()
				return err
			}
			setSDP(res, offer)
			hasSDP = true
		}
	}
	if err := s.earlyDialog(res); err != nil {
		s.mu.Unlock()
		return err
	}
	// "The value of the header field for the first reliable provisional
	// response in a transaction MUST be between 1 and 2**31 - 1"; then
	// "greater by exactly one".
	if s.rseq == 0 {
		s.rseq = 1 + rand.Uint32N(1<<31-1)
	} else {
		s.rseq++
	}
	// "it MUST contain a Require header field containing the option tag
	// 100rel, and MUST include an RSeq header field".
	_ = res.Add(string(sip.HeaderRequire), "100rel")
	_ = res.Add(string(sip.HeaderRSeq), strconv.FormatUint(uint64(s.rseq), 10))
	p := &reliable{rseq: s.rseq, cseq: s.invSeq, sdp: hasSDP, pracked: make(chan struct{})}
	s.unpracked = p
	err := s.w.Respond(res)
	tx := s.tx
	s.mu.Unlock()
	if err != nil {
		return err
	}
	reliableTransport := tx == nil || tx.Flow().Reliable()
	err = dialog.RetransmitReliable(ctx, s.ua.Timers, reliableTransport, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.final || s.wClosed {
			// "If the UAS does send a final response when reliable
			// responses are still unacknowledged, it SHOULD NOT continue
			// to retransmit".
			return ErrResponded
		}
		return s.w.Respond(res)
	}, p.pracked)
	if errors.Is(err, dialog.ErrNoPrack) {
		// "If a reliable provisional response is retransmitted for 64*T1
		// seconds without reception of a corresponding PRACK, the UAS
		// SHOULD reject the original request with a 5xx response."
		_ = s.Reject(sip.StatusServerInternalError)
	}
	return err
}

// parseRAck parses "response-num CSeq-num Method" (RFC 3262 §7.2).
func parseRAck(v string) (rseq, cseq uint32, m sip.Method, ok bool) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return 0, 0, "", false
	}
	r, ok1 := parseUint32(f[0])
	c, ok2 := parseUint32(f[1])
	return r, c, sip.Method(f[2]), ok1 && ok2
}

// servePrack answers a PRACK (RFC 3262 §3): 200 when it matches the
// unacknowledged reliable provisional, "If a PRACK request is received by
// the UA core that does not match any unacknowledged reliable provisional
// response, the UAS MUST respond to the PRACK with a 481 response." An
// offer in the PRACK is answered in its 200 (§5).
func (u *UA) servePrack(_ context.Context, w stack.ResponseWriter, req *sip.Request) {
	s, _ := u.lookup(w, req)
	if s == nil {
		return
	}
	rseq, cseq, m, ok := parseRAck(req.Get(string(sip.HeaderRAck)))
	body, perr := sdpOf(req.ContentType(), req.Body)
	s.mu.Lock()
	p := s.unpracked
	if !ok || p == nil || p.rseq != rseq || p.cseq != cseq || m != sip.INVITE {
		s.mu.Unlock()
		_ = w.Respond(sip.NewResponse(req, sip.StatusCallTransactionDoesNotExist))
		return
	}
	s.unpracked = nil
	res := sip.NewResponse(req, sip.StatusOK)
	media := false
	if perr == nil && body != nil && s.hasMedia() {
		switch s.neg.State() {
		case sdp.HaveLocalOffer:
			media = s.neg.RemoteAnswer(body) == nil
		case sdp.Stable:
			if s.neg.RemoteOffer(body) == nil {
				if a, err := s.neg.Answer(s.Media); err == nil && s.neg.LocalAnswer(a) == nil {
					setSDP(res, a)
					media = true
				} else {
					s.neg.Rollback()
				}
			}
		}
	}
	s.mu.Unlock()
	_ = w.Respond(res)
	// Retransmissions stop, and Progress returns, once the PRACK is
	// answered.
	close(p.pracked)
	if media {
		s.notifyMedia()
	}
}
