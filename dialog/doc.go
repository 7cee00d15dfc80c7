// Package dialog keeps SIP dialog state: RFC 3261 §12 (creation by a UAC
// from a 1xx or 2xx with a To tag and by a UAS, the route set from
// Record-Route, local and remote CSeq, remote target refresh, requests
// within a dialog with loose and strict routing, termination).
//
// A Dialog is a plain value guarded by its own mutex; it knows who
// initiated it (Replaces, Join and Target-Dialog need that) and is found
// in a [Registry] by its [ID], early dialogs included. It carries usages
// (RFC 5057: the INVITE usage, subscription usages keyed by Event and id)
// and ends with its last one (Dialog.AddUsage, Dialog.RemoveUsage).
//
// The INVITE usage's timers share one mechanism, the runtime's timers:
// [Dialog.Await2xx] (§13.3.1.4: 2xx retransmitted T1 doubling to T2 until
// the ACK reaches ReceiveRequest, ErrNoAck at 64·T1) holds no goroutine
// while it waits; the blocking forms run in their caller's goroutine:
// [Retransmit2xx] (the same schedule),
// [RetransmitReliable] (RFC 3262 §3: reliable provisionals T1 doubling
// until the PRACK, ErrNoPrack at 64·T1), [GlareDelay] and [RetryGlare]
// (§14.1: the retry of a re-INVITE or UPDATE after 491). Package ua
// builds sessions on them.
package dialog
