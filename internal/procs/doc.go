// Package procs adapts GOMAXPROCS to the CPU a process uses, for parley
// serve.
//
// A SIP server spends most of its CPU per message on small units of work
// (a datagram read, a parse, a transaction step, a datagram written), each
// handed from one goroutine to another. When the Go scheduler has more
// than one P and little work, idle Ps spin looking for it and park their
// threads again, and each handoff may wake a thread: on a 2-core machine
// at 500 calls/s through the proxy, that costs about a third of the
// process's CPU (measured with ../shared/bench: 0.61 ms of CPU per call
// with GOMAXPROCS=2, 0.39 ms with 1). An [Adapter] therefore runs the
// process on as few Ps as its load needs: one while it is light, doubling
// when the Ps in use are busy, one fewer when the rest would do.
//
// It implements no RFC; RFC 3261 §17's timers are what bound the latency
// a change of P count may add (milliseconds, against T1's 500 ms).
package procs
