// Package transaction is Parley's SIP transaction layer: the four state
// machines of RFC 3261 §17 with the corrections of RFC 6026 and RFC 4320,
// the rules that match messages to transactions, and the timers that drive
// them.
//
// A [Layer] sits between the transport (package transport, through the
// [Transport] interface) and the transaction user (TU: a UA core, a proxy
// core, the stack package). The transport hands every received message to
// [Layer.HandleIncoming]; the Layer matches it to a transaction or creates
// a server transaction and calls the TU back through [Config]. The TU
// starts client transactions with [Layer.Request] and answers server
// transactions with [ServerTx.Respond].
//
// # Machines
//
//   - Client INVITE, [ClientInvite]: §17.1.1, Figure 5 as replaced by RFC
//     6026 §8.4 — Calling, Proceeding, Completed, Accepted, Terminated;
//     Timers A, B, D, M. The ACK for a non-2xx final response is built and
//     sent by the transaction (§17.1.1.3); the ACK for a 2xx is the TU's.
//   - Client non-INVITE, [ClientNonInvite]: §17.1.2, Figure 6 — Trying,
//     Proceeding, Completed, Terminated; Timers E, F, K.
//   - Server INVITE, [ServerInvite]: §17.2.1, Figure 7 as replaced by RFC
//     6026 §8.6 — Proceeding, Completed, Confirmed, Accepted, Terminated;
//     Timers G, H, I, L, and 100 Trying after 200 ms. A 2xx is passed to
//     the transport once; retransmitting it until the ACK comes is the
//     TU's job (§13.3.1.4), and the ACK is given to the TU.
//   - Server non-INVITE, [ServerNonInvite]: §17.2.2, Figure 8 — Trying,
//     Proceeding, Completed, Terminated; Timer J, and 100 Trying once a
//     client's Timer E would have reached T2 (RFC 4320 §4.1).
//
// Timers A, E and G run only on unreliable flows; D, I, J and K are zero
// on reliable ones. Whether a flow is reliable is decided from the flow
// the request went out on ([Transport.SendRequest] returns it: a UDP
// request may have switched to TCP for its size) or arrived on. Every
// value derives from [Timers] (RFC 3261 Table 4, RFC 6026 §8.11).
//
// A non-INVITE transaction in Completed only absorbs retransmissions
// (§17.1.2.2: responses; §17.2.2: requests, answered with the final
// response again), and on UDP it stays there 64*T1 (server, Timer J) or T4
// (client, Timer K). It therefore lets its request go on entering
// Completed ([ServerTx.Request] and [ClientTx.Request] say when they
// return nil), and a server transaction over a [ResponseKeeper] transport
// keeps its final response as the bytes sent rather than a *sip.Response.
//
// # Matching
//
// Responses are matched to client transactions by the branch of the top
// Via and the CSeq method (§17.1.3): a CANCEL has a transaction of its
// own. Requests are matched to server transactions by branch, sent-by and
// method, an ACK matching its INVITE (§17.2.3); requests from RFC 2543
// elements, whose branch lacks the magic cookie, by Request-URI, To and
// From tags, Call-ID, CSeq and top Via. A CANCEL is matched to the
// transaction it cancels with the method ignored (§9.2) and given to
// [Config.OnCancel] with it. Keys are comparable structs.
//
// [Layer.Merged] and [ServerTx.Merged] report requests merged on their way
// through a fork (§8.2.2.2), which a UAS answers 482.
//
// # Errors
//
// A client transaction that times out ends with [ErrTimeout] (the TU
// treats it as a 408, §8.1.3.1; RFC 4320 §4.2 forbids sending a 408 for a
// non-INVITE request, and the layer never sends one); one whose transport
// fails ends with [ErrTransport] (treat as 503). A server transaction
// whose transport fails stays in its state (RFC 6026 §8.8) and the TU
// learns of it from Respond; one whose non-2xx final response gets no ACK
// ends with ErrTimeout (Timer H). Errors carry the transaction's [Key] in
// an [*Error] and match the sentinels with errors.Is.
//
// # Concurrency and timers
//
// Each transaction has one owner at a time: whoever holds its mutex — the
// goroutine delivering a message from the transport, the TU calling
// Respond, or the Layer's clock. There is no goroutine and no *time.Timer
// per RFC timer, nor per transaction: a Layer keeps one FIFO queue of
// deadlines per timer duration (each queue is in deadline order, since
// every deadline is "now + duration") and one *time.Timer set to the
// earliest of them; when it fires, one goroutine runs every transaction
// whose deadline has passed. A timer that is disarmed or re-armed, or
// whose transaction terminates, is dropped from its queue without waking
// anything. A timer never fires early; it fires late only by the
// runtime's timer latency, or, under load, by at most 1 ms so that one
// wake-up runs every deadline falling that close to the previous firing.
// TU callbacks ([Config]) and channel sends never block and are never made
// with the Layer's mutex held; the Tracer is called with the transaction's
// mutex held, so that it sees each transaction's events in order. [Layer.Shutdown] and [Layer.Close] end
// every transaction; no goroutine of the package outlives them for longer
// than a timer callback takes to return.
//
// # References
//
//   - RFC 3261 §17 (transactions): §17.1.1 INVITE client transaction,
//     §17.1.1.3 construction of the ACK, §17.1.2 non-INVITE client
//     transaction, §17.1.3 matching responses, §17.1.4 transport errors,
//     §17.2.1 INVITE server transaction, §17.2.2 non-INVITE server
//     transaction, §17.2.3 matching requests, §17.2.4 transport errors;
//     Table 4 (timers).
//   - RFC 3261 §8.1.3.1 (transaction layer errors: 408 and 503), §8.2.2.2
//     (merged requests), §9.2 (CANCEL at a server), §16.7 and §18 (where
//     stray responses and ACKs go).
//   - RFC 6026: the Accepted states, Timers L and M, the corrected Figures
//     5 and 7, stray responses no longer forwarded, server transactions
//     kept across transport errors.
//   - RFC 4320: no provisional but 100 to non-INVITE requests, 100 only
//     after Timer E would have reached T2, no 408 to non-INVITE requests.
//   - RFC 4321: the problems of the non-INVITE transaction that RFC 4320
//     fixes.
package transaction
