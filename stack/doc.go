// Package stack binds the transport, resolve and transaction layers into
// the API applications use, shaped like net/http: a [Handler] with a
// [HandlerFunc] adapter, a [ServeMux] keyed by method, [Middleware]
// composed once at start-up, a Server and a Client.
//
// It dispatches only: dialog, proxy, registrar and user-agent policy live
// in the packages above it. It implements the dispatch parts of RFC 3261
// §8.2.1 (405 with Allow for an unknown method), §9.1 and §9.2 (CANCEL: a
// cancelled context on the client side sends CANCEL; a received CANCEL
// cancels the handler's context and is answered 200, the INVITE 487), and
// §16.11 (stateless responding and forwarding primitives for proxies).
package stack
