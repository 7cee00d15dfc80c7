// Package proxy is a transaction-stateful SIP proxy core (RFC 3261 §16) as a
// [stack.Handler], and a stateless proxy (§16.11).
//
// A [Proxy] processes each request in the steps of §16:
//
//   - §16.3 validation: a Request-URI scheme it does not understand is
//     answered 416, Max-Forwards 0 is answered 483, a request that carries a
//     Via this proxy placed with the branch it would compute again for it
//     has looped (482), and an option tag in Proxy-Require that the proxy
//     does not support is answered 420 with Unsupported.
//   - §16.4 route information preprocessing: a Request-URI equal to the
//     proxy's Record-Route URI (a strict router upstream) is replaced by the
//     last Route value; a top Route naming the proxy is removed.
//   - §16.5 target set: with a Route left, the Request-URI is the only target
//     and the request follows the Route (loose routing); otherwise the
//     [Router] gives the targets, which a [Proxy.TargetFilter] stage may
//     reorder or drop (caller preferences, RFC 3841, will plug in there).
//   - §16.6 forwarding, per target: a copy with the target as Request-URI,
//     Max-Forwards decremented, Record-Route (with lr) when configured, the
//     target's Path as Route values, strict-router reformatting (step 6),
//     the proxy's own Via whose branch is unique and carries a keyed hash
//     of the request for loop detection (step 8), and Timer C for INVITE
//     (step 11). Targets are tried in parallel or sequentially, highest q
//     first and equal q in parallel.
//   - §16.7 response processing: provisional responses but 100 and every
//     2xx are forwarded at once (later 2xx of an INVITE statelessly, RFC
//     6026 §7.1); a 2xx or 6xx cancels the other pending branches (§16.7
//     step 10, §16.10) with a Reason (RFC 3326: `SIP;cause=200;text="Call
//     completed elsewhere"`, or the 6xx); when every branch has ended the best response is
//     chosen (step 6: 6xx first, then the lowest class, preferring 401, 407,
//     415, 420 and 484 among 4xx; 503 is sent as 500) and 401/407
//     challenges of all branches are aggregated (step 7).
//   - §16.8 Timer C: its expiry cancels the branch, which then counts as
//     a 408. §16.9: a transport error counts as a 503, a timeout as a 408.
//   - §16.10 CANCEL: the stack answers the CANCEL itself and cancels the
//     handler's context; the proxy then cancels every pending branch,
//     passing the CANCEL's Reason on (RFC 3326), and answers the INVITE 487.
//
// Record-Route names the listener the request arrived on; with
// [Proxy.Listeners] on several transports, a request that changes
// transport (UDP to TCP, sip to sips) is record-routed twice, the
// interface facing the next hop on top (RFC 5658 §5, §6.2), and both of
// the proxy's Route values are removed from in-dialog requests.
//
// [Stateless] is the stateless proxy of §16.11: it takes requests and
// responses from the transport layer, forwards a request to one target
// (highest q, then the smallest URI, so that a retransmission, its CANCEL
// and its ACK take the same way) with a branch hashed from the received
// branch, answers what it refuses statelessly, never sends a 100, and
// forwards a response by its Via when the top Via is one it inserted.
//
// ACKs for 2xx responses have no transaction: plug [Proxy.ForwardAck] into
// stack.Server.OnAck, and [Proxy.ForwardResponse] into
// stack.Server.OnResponse for 2xx responses that outlived their client
// transaction. [LocationRouter] finds targets in a location.Store; a
// [Location] with GRUU set routes RFC 5627 GRUUs to their instance (§6.1).
//
// [Proxy.OnBranch] observes every branch (forwarded, provisional, answered,
// cancelled, ended) for logs, metrics and a live console.
package proxy
