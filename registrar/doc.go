// Package registrar processes REGISTER requests as a stack.Handler over a
// location.Store: RFC 3261 §10.3 (every step: domain, Require, the
// authenticated user's right to the address-of-record, To as the AoR, the
// "*" Contact, expiry from the parameter, the header or the default, 423
// with Min-Expires, Call-ID/CSeq ordering, an atomic update, the 200
// listing every binding), RFC 3327 (Path stored and echoed, "Supported:
// path"), RFC 3608 (Service-Route) and RFC 5626 §6 (outbound: instance-id
// and reg-id bindings tied to their flow, 439 when the first hop lacks
// outbound support), and RFC 5627 §5 (GRUU: with Registrar.GRUU set, a
// REGISTER that says "Supported: gruu" gets pub-gruu and temp-gruu for
// each contact with a +sip.instance; a contact that is the AoR or one of
// its GRUUs is refused 403).
//
// Authentication is a middleware in front of the Registrar
// (auth/digest); the Registrar reads the authenticated user from the
// request context to decide whether it may change the AoR (§10.3 step 4).
package registrar
