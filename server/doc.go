// Package server is what `parley serve` runs: a configuration (YAML, or
// the loopback defaults when there is none), the stores, the middleware
// chain (digest authentication) and the handlers — the registrar of
// RFC 3261 §10.3 now, the proxy of §16 as it lands — plus the admin HTTP
// listener (/healthz, /readyz, /registrations).
//
// Secure by default (DESIGN.md): with no configuration the server listens
// on loopback only and registration is open (nothing off the machine can
// reach it); a listener on any other address requires a users file and
// digest authentication unless the configuration says `auth: off`.
package server
