// Package stack binds the transport, resolve and transaction layers into
// the API applications use, shaped like net/http: a [Handler] with a
// [HandlerFunc] adapter, a [ServeMux] keyed by method, [Middleware]
// composed once at start-up, a Server and a Client.
//
// It dispatches only: dialog, proxy, registrar and user-agent policy live
// in the packages above it. It implements the dispatch parts of RFC 3261
// §8.2.1 (405 with Allow for an unknown method), §9.1 and §9.2 (CANCEL: a
// cancelled context on the client side sends CANCEL, with the RFC 3326
// Reason of a WithCancelReason cause; a received CANCEL cancels the
// handler's context with a CancelError holding it and is answered 200, the
// INVITE 487), and
// §16.11 (stateless responding and forwarding primitives for proxies).
//
// Cost: a request costs the Server no goroutine of its own beyond the one
// that runs its handler, taken from a bounded set of idle ones when it
// can (they keep the stack a handler needs); the handler's context is
// made only when the handler uses it. See BenchmarkOPTIONS and
// TestOPTIONSAllocs for the figures.
package stack
