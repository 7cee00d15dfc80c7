// Package bench compares Parley's SIP codec with github.com/emiago/sipgo.
//
// It is a separate module (see go.mod) so that sipgo, and everything it
// pulls in, never enters Parley's own go.mod. Everything lives in the tests:
// run `go test -bench .` here, or `go run ./cmd/benchcmp` for a summary
// table (what `make bench` at the repository root does).
package bench
