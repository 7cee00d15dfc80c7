// Package server is what `parley serve` runs: a configuration (YAML, or
// the loopback defaults when there is none), the stores, the middleware
// chain (metrics, request logs, digest authentication: 401 for REGISTER,
// RFC 3261 §22.1, and 407 for proxied requests from local users, §22.3)
// and the handlers — the registrar of §10.3 (with GRUU, RFC 5627) and the
// proxy of §16, or the stateless proxy of §16.11 in front of the
// transaction layer with `proxy: {mode: stateless}` — plus the admin HTTP
// listener: /healthz and /readyz open, /metrics (Prometheus, named after
// RFC 4780's SIP MIB) open to loopback clients, /registrations behind the
// admin login, TLS required off loopback.
//
// Secure by default (DESIGN.md): with no configuration the server listens
// on loopback only and registration is open (nothing off the machine can
// reach it); a listener on any other address requires a users file and
// digest authentication unless the configuration says `auth: off`; a
// request for a foreign domain is forwarded only for an authenticated
// local user, and an authenticated user's dialog-forming request whose
// Contact is another user's GRUU is refused 403 (RFC 5627 §6.2). Requests
// the stateless proxy handles are counted in the metrics and logged like
// the others, though they never reach the middleware chain.
package server
