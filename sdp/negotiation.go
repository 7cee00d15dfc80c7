package sdp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// NegotiationState is the state of a Negotiation.
type NegotiationState uint8

// The states of the offer/answer exchange of RFC 3264 §4.
const (
	// Stable: no offer is outstanding. Either nothing has been exchanged
	// yet or the last offer has been answered (or rolled back).
	Stable NegotiationState = iota
	// HaveLocalOffer: this agent sent an offer and awaits the answer.
	HaveLocalOffer
	// HaveRemoteOffer: the peer sent an offer that this agent has yet to
	// answer.
	HaveRemoteOffer
)

var negotiationStateNames = [...]string{
	Stable:          "stable",
	HaveLocalOffer:  "local-offer",
	HaveRemoteOffer: "remote-offer",
}

// String returns the name of st, such as "local-offer".
func (st NegotiationState) String() string {
	if int(st) < len(negotiationStateNames) {
		return negotiationStateNames[st]
	}
	return "NegotiationState(" + strconv.Itoa(int(st)) + ")"
}

// Errors of the Negotiation state machine.
var (
	// ErrGlare reports a remote offer received while a local offer is
	// outstanding: the offers overlap (RFC 3264 §4, RFC 3261 §14.2), and a
	// SIP UAS rejects the request carrying the remote offer with 491
	// (Request Pending).
	ErrGlare = errors.New("sdp: offer overlaps an outstanding offer (491)")
	// ErrOfferPending reports an offer made while a remote offer is still
	// unanswered, or a local offer made while a local one is outstanding.
	// A SIP UAS rejects a second re-INVITE received before answering the
	// first with 500 (RFC 3261 §14.2).
	ErrOfferPending = errors.New("sdp: an offer is already pending")
	// ErrNoOffer reports an answer given or received when no offer in that
	// direction is outstanding.
	ErrNoOffer = errors.New("sdp: answer without an outstanding offer")
)

// Negotiation is the offer/answer state of one session (RFC 3264 §4, §8):
// whether an offer is outstanding and in which direction, the descriptions
// most recently agreed, and the offer in progress. The zero value is a
// Stable negotiation with nothing exchanged yet.
//
// Negotiation is a plain value without goroutines, timers or locks; the
// dialog that owns it serialises calls. Copying it copies the state (the
// descriptions are shared but never modified by Negotiation). It records
// copies of the descriptions passed in, so callers may reuse theirs. Its
// fields are unexported so that extensions can grow it without breaking
// callers: the precondition state of RFC 3312 (current and desired QoS
// status per stream, §5) is meant to live here as further fields, updated
// by the same LocalOffer/RemoteOffer/LocalAnswer/RemoteAnswer calls.
//
// A body-less request or response carries no offer or answer and leaves
// the state alone; nothing needs to be called. When a re-INVITE without a
// body asks this agent for an offer (RFC 3261 §14.2), Refresh returns the
// current local description to offer unchanged. A refresh carrying the
// same session version as before is accepted as a no-op (RFC 3264 §8), and
// Changed reports false after it.
type Negotiation struct {
	state   NegotiationState
	local   *Session // last description sent and agreed
	remote  *Session // last description received and agreed
	pending *Session // outstanding offer, local or remote
	sent    uint64   // highest o= version sent, including rolled-back offers
	changed bool
}

// noteSent records the o= version of a description sent by this agent.
func (n *Negotiation) noteSent(s *Session) {
	n.sent = max(n.sent, s.Origin.SessionVersion)
}

// lastVersion returns the o= version the next changed local description
// must increment: that of the previous local description or, if an offer
// was sent and rolled back since, of that offer.
func (n *Negotiation) lastVersion() uint64 {
	if n.local == nil {
		return n.sent
	}
	return max(n.local.Origin.SessionVersion, n.sent)
}

// State returns the current state.
func (n *Negotiation) State() NegotiationState { return n.state }

// Local returns the local description of the last completed exchange, the
// "previous SDP" of RFC 3264 §8 for new local offers, or nil. It must not be
// modified; derive a new offer from it with Session.Reoffer.
func (n *Negotiation) Local() *Session { return n.local }

// Remote returns the remote description of the last completed exchange, or
// nil. It must not be modified.
func (n *Negotiation) Remote() *Session { return n.remote }

// Pending returns the outstanding offer, local or remote according to
// State, or nil when Stable. It must not be modified.
func (n *Negotiation) Pending() *Session { return n.pending }

// Changed reports whether the last remote description recorded, by
// RemoteOffer or RemoteAnswer, differs from the remote description before
// it: true for the first one, false for a refresh with the same session
// version and content (RFC 3264 §8: "effectively a no-op").
func (n *Negotiation) Changed() bool { return n.changed }

// Refresh returns a copy of the current local description, unchanged and
// with the same session version, to offer when the peer asks for an offer
// only to refresh the session, or nil if there is none. Give it to
// LocalOffer before sending it.
func (n *Negotiation) Refresh() *Session { return n.local.Clone() }

// LocalOffer records offer as sent by this agent. It returns ErrOfferPending
// if an offer is already outstanding in either direction, and an
// *OfferAnswerError if offer breaks RFC 3264 §8 against the previous local
// description: fewer m= lines, another session id, or a session version
// that is neither one higher than the previous one (or than an offer sent
// since and rolled back) nor, for an identical description, the previous
// one.
func (n *Negotiation) LocalOffer(offer *Session) error {
	if n.state != Stable {
		return ErrOfferPending
	}
	if err := checkOffer(offer, n.local, true, n.lastVersion()); err != nil {
		return err
	}
	n.noteSent(offer)
	n.state, n.pending = HaveLocalOffer, offer.Clone()
	return nil
}

// RemoteOffer records offer as received from the peer. It returns ErrGlare
// if a local offer is outstanding (answer the request with 491), and
// ErrOfferPending if an earlier remote offer is still unanswered (answer
// with 500). It returns an *OfferAnswerError if offer has fewer m= lines
// than the previous remote description (RFC 3264 §8); otherwise it is
// lenient about the o= line. Changed tells whether the offer is a refresh.
func (n *Negotiation) RemoteOffer(offer *Session) error {
	switch n.state {
	case HaveLocalOffer:
		return ErrGlare
	case HaveRemoteOffer:
		return ErrOfferPending
	}
	if err := checkOffer(offer, n.remote, false, 0); err != nil {
		return err
	}
	n.changed = !sameDescription(offer, n.remote)
	n.state, n.pending = HaveRemoteOffer, offer.Clone()
	return nil
}

// LocalAnswer records answer as sent by this agent for the outstanding
// remote offer, which becomes the current remote description, and returns
// to Stable. It returns ErrNoOffer if no remote offer is outstanding and an
// *OfferAnswerError, leaving the state alone, if answer does not fit the
// offer (see ValidateAnswer).
func (n *Negotiation) LocalAnswer(answer *Session) error {
	if n.state != HaveRemoteOffer {
		return ErrNoOffer
	}
	if err := ValidateAnswer(n.pending, answer); err != nil {
		return err
	}
	n.noteSent(answer)
	n.local, n.remote = answer.Clone(), n.pending
	n.state, n.pending = Stable, nil
	return nil
}

// RemoteAnswer records answer as received for the outstanding local offer,
// which becomes the current local description, and returns to Stable. It
// returns ErrNoOffer if no local offer is outstanding and an
// *OfferAnswerError, leaving the state alone, if answer does not fit the
// offer (see ValidateAnswer); the caller then typically ends the session or
// sends a new offer after Rollback.
func (n *Negotiation) RemoteAnswer(answer *Session) error {
	if n.state != HaveLocalOffer {
		return ErrNoOffer
	}
	if err := ValidateAnswer(n.pending, answer); err != nil {
		return err
	}
	n.changed = !sameDescription(answer, n.remote)
	n.local, n.remote = n.pending, answer.Clone()
	n.state, n.pending = Stable, nil
	return nil
}

// Rollback abandons the outstanding offer, as when a re-INVITE carrying it
// is rejected (for example with 491 or 488), and returns to Stable with the
// descriptions of the last completed exchange, which stay in force (RFC
// 3261 §14.1).
func (n *Negotiation) Rollback() {
	n.state, n.pending = Stable, nil
}

// Answer builds the answer to the outstanding remote offer with the
// package-level Answer. Streams accepted in the previous exchange keep their
// local port, so local.Ports is only asked for new ones. Its o= line continues the local description of the
// previous exchange, if any: same user name, session id and address, and a
// session version one higher (RFC 3264 §8) than the previous local
// description or any offer sent since and rolled back, or the same version
// if the answer is identical to the previous local description. It does not record
// the answer; call LocalAnswer when it is sent. It returns ErrNoOffer when no
// remote offer is outstanding; on ErrNoCommonMedia, reject the request with
// 488 (Not Acceptable Here) and call Rollback.
func (n *Negotiation) Answer(local Capabilities) (*Session, error) {
	if n.state != HaveRemoteOffer {
		return nil, ErrNoOffer
	}
	a, err := answer(n.pending, local, n.local)
	if err != nil || n.local == nil {
		return a, err
	}
	a.Origin = n.local.Origin
	if v := n.lastVersion(); v != a.Origin.SessionVersion || !sameDescription(a, n.local) {
		a.Origin.SessionVersion = v + 1
	}
	return a, nil
}

// ValidateAnswer checks answer against offer (RFC 3264 §6, §6.1): the same
// number of m= lines with the same media types; a stream offered with port
// 0 answered with port 0; and for each accepted RTP stream, at least one
// codec that is in the offer (matched by encoding name, clock rate and
// channels, or by payload type number for a format without a name in either)
// and a direction that the offered direction allows. It returns an
// *OfferAnswerError describing the first violation.
func ValidateAnswer(offer, answer *Session) error {
	if offer == nil || answer == nil {
		return oaErr(-1, "missing description")
	}
	if len(answer.Media) != len(offer.Media) {
		return oaErr(-1, "answer has "+strconv.Itoa(len(answer.Media))+" m= lines, offer has "+strconv.Itoa(len(offer.Media)))
	}
	for i := range offer.Media {
		om, am := &offer.Media[i], &answer.Media[i]
		if !equalFold(om.Type, am.Type) {
			return oaErr(i, "media type "+am.Type+" answers "+om.Type)
		}
		if am.Port == 0 {
			continue
		}
		if om.Port == 0 {
			return oaErr(i, "stream offered with port 0 accepted in the answer")
		}
		if len(am.Formats) == 0 {
			return oaErr(i, "no formats")
		}
		if oc := om.Codecs(); len(oc) > 0 && !anyCommon(oc, am.Codecs()) {
			return oaErr(i, "no codec of the answer is in the offer")
		}
		od, ad := offer.MediaDirection(om), answer.MediaDirection(am)
		if (sends(ad) && !receives(od)) || (receives(ad) && !sends(od)) {
			return oaErr(i, ad.String()+" answer to a "+od.String()+" offer")
		}
	}
	return nil
}

func anyCommon(offered, answered []Codec) bool {
	for _, a := range answered {
		for _, o := range offered {
			if a.Matches(o) || (a.Name == "" && o.Name == "" && a.PayloadType == o.PayloadType) {
				return true
			}
		}
	}
	return false
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// checkOffer checks offer against prev, the previous description from the
// same side (RFC 3264 §8). For local offers, the o= line is checked too: its version must be that of prev if offer is identical to
// prev, and otherwise one more than that of prev or than last, the highest
// version sent.
func checkOffer(offer, prev *Session, local bool, last uint64) error {
	if offer == nil {
		return oaErr(-1, "no offer")
	}
	if prev == nil {
		return nil
	}
	if len(offer.Media) < len(prev.Media) {
		return oaErr(-1, "offer has fewer m= lines than the previous description")
	}
	if !local {
		return nil
	}
	o, p := offer.Origin, prev.Origin
	if o.SessionID != p.SessionID {
		return oaErr(-1, "o= session id changed")
	}
	switch o.SessionVersion {
	case p.SessionVersion + 1, last + 1:
	case p.SessionVersion:
		if !sameDescription(offer, prev) {
			return oaErr(-1, "description changed without a new o= version")
		}
	default:
		return oaErr(-1, "o= version must be the previous one or one higher")
	}
	return nil
}

// sameDescription reports whether a and b encode identically; a nil b
// differs from everything.
func sameDescription(a, b *Session) bool {
	if a == nil || b == nil {
		return false
	}
	return a.Len() == b.Len() && bytes.Equal(a.AppendTo(nil), b.AppendTo(nil))
}
