// Package digest implements HTTP Digest authentication as SIP uses it
// (RFC 3261 §22, which builds on RFC 2617), with the algorithms of
// RFC 7616 and RFC 8760: MD5, SHA-256 and SHA-512-256.
//
// The server side is [Server]: its [Server.Middleware] challenges requests
// (401 with WWW-Authenticate for a registrar or user agent, 407 with
// Proxy-Authenticate for a proxy, §22.1, §22.3), verifies the credentials
// of the retried request and hands the request on with the authenticated
// user in its context ([User]). Nonces are stateless: each carries its
// issue time and a random part, sealed with an HMAC under the server's
// secret, so any node that shares the secret verifies them without a
// database. A bounded cache of nonce-counts rejects replayed credentials
// (RFC 7616 §3.4: nc must increase for a given nonce). Unknown users get
// the same answer, after the same work, as known users with a wrong
// password, and failures are rate limited per source address.
//
// Users are held as HA1 values (RFC 7616 §3.4.2: H(username ":" realm ":"
// password)) per realm and algorithm, so that a server never stores a
// password; [ParseUsers] reads them from a file and [HA1] computes them.
//
// The client side is [Answer]: given a challenge received in a 401 or 407,
// it builds the credentials for the Authorization or Proxy-Authorization
// header field of the retried request (§22.2, §22.3). [Choose] picks the
// strongest of several challenges.
package digest
