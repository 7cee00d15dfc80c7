// Package parley is the root of Parley, SIP done completely in Go: a
// library layered like RFC 3261 and one binary, cmd/parley.
//
// The packages, from the bottom up: sip (messages and codec, RFC 3261 §7,
// §19, §20, §25) and sdp (RFC 8866, RFC 3264); transport (§18, RFC 3581,
// 5626 §4.4, 5923, 7118); resolve (RFC 3263); transaction (§17, RFC 6026,
// 4320); stack (the net/http-shaped Server and Client); dialog (§12–15),
// location (§10.3 bindings), auth/digest (§22, RFC 7616, 8760); ua (§8,
// §10.2, calls), registrar (§10.3, RFC 3327, 3608, 5626 §6) and proxy
// (§16); server (what `parley serve` runs). deps_test.go holds the import
// rules between them. This package itself has no code.
package parley
