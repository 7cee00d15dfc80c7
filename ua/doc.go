// Package ua is Parley's user-agent core (RFC 3261 §8–§15 and the
// extensions of a complete UA).
//
// Sessions — the call API:
//
//   - [UA] binds a stack.Server and Client to a [Capabilities] registry
//     (Allow, Supported, Accept, Recv-Info; the §8.2 checks of [Validate]:
//     501/405, 416, 483, 482, 420, 421, 415, 406; OPTIONS answered from
//     it, §11.2) and holds the dialogs (package
//     dialog) of its sessions. Attach installs its handlers; Close stops
//     its background work.
//   - [Session] is one call, the INVITE usage of a dialog (RFC 5057).
//     Outgoing: UA.NewCall(target, CallOptions) then Session.Invite(ctx):
//     provisional callbacks with early SDP (CallOptions.OnProvisional,
//     RemoteSDP), Session.Cancel(reason) (§9.1: the CANCEL waits for a
//     provisional; Invite still awaits the 487), every 2xx ACKed and
//     re-ACKed on retransmission (§13.2.2.4), forked 2xx legs not kept
//     ended with ACK + BYE. Incoming: UA.OnInvite(ctx, s) with
//     s.Progress(ctx, code, earlyMedia), s.Accept(), s.Reject(code);
//     the 2xx is retransmitted until the ACK (dialog.Await2xx: timers, no
//     goroutine) and the session ended with BYE after 64·T1 without one
//     (§13.3.1.4).
//   - Session.Bye(ctx, reason) in early (caller) and confirmed dialogs
//     (§15), with the Reason header of RFC 3326 ([Reason]); requests for
//     unknown dialogs get 481 (§12.2.2), and a 481/408 answer ends the
//     dialog (§12.2.1.2).
//   - Session.Reinvite / Hold / Resume (§14, RFC 3264 §8.4 through package
//     sdp's Negotiation): target refresh, 491 for an INVITE overlapping
//     ours and 500 + Retry-After for a second one (§14.2), and the §14.1
//     retry after 491 (dialog.RetryGlare).
//   - RFC 3262 (100rel): Supported/Require negotiation (420 through the
//     registry when disabled), reliable provisionals with RSeq
//     retransmitted T1-doubling until PRACK and the call rejected 500
//     after 64·T1, one outstanding at a time; the UAC PRACKs with RAck
//     and drops retransmitted and out-of-order RSeq; offer/answer in
//     reliable provisionals and PRACK (§5).
//   - UPDATE (RFC 3311) in early and confirmed dialogs: Session.Update,
//     491 for an offer crossing ours, 500 + Retry-After while a received
//     offer is unanswered (§5.2).
//   - MESSAGE (RFC 3428) in and out of dialog: UA.Message,
//     Session.Message, UA.OnMessage; 413 above UA.MaxMessageSize (1300
//     bytes by default), and ErrTooLarge instead of sending more over UDP
//     (§8).
//   - INFO (RFC 6086): Info Packages registered with
//     Capabilities.AddInfoPackages and listed in Recv-Info (empty in every
//     initial INVITE, §5.2.3), Session.Info only for packages the peer
//     listed, 469 with Recv-Info for others, legacy INFO, UA.OnInfo.
//   - UA.Handle adds methods for other dialog usages (RFC 5057: SUBSCRIBE,
//     NOTIFY, REFER…), registered in Allow; UA.Dialogs finds their dialog.
//   - OPTIONS (§11.2) answered with Allow, Supported and Accept from the
//     registry, where the UA registers INVITE, ACK, BYE, CANCEL, OPTIONS,
//     PRACK, UPDATE, INFO, MESSAGE and 100rel.
//
// Also: [NewRequest] builds out-of-dialog requests (§8.1.1),
// [Registration] is the registration client (§10.2), [Media] is a G.711
// RTP stream (RFC 3550; PCMU and PCMA of RFC 3551 §4.5.14, 20 ms packets)
// sending a tone or any [Source], echoing, or recording what it receives,
// and [Phone] is the simple G.711 phone built on it; `parley call` and
// `parley answer` use Media for their RTP.
package ua
