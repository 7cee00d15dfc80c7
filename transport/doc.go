// Package transport moves SIP messages over UDP, TCP, TLS, WebSocket and
// secure WebSocket, on IPv4 and IPv6: the transport layer of RFC 3261 §18.
//
// A [Layer] listens ([Layer.Listen], or [Layer.Serve] and
// [Layer.ServePacket] for sockets handed over by a service manager), keeps
// a pool of connections keyed by network and remote address, and hands
// every message it receives to its Handler as an [Incoming]: the parsed
// message and the [Flow] it arrived on. The transaction layer above sends
// with [Layer.SendRequest], which returns the flow used, and
// [Layer.SendResponse], which takes the flow of the request. [Network]
// names the transports; it is also what the resolve package returns for
// RFC 3263 server location.
//
// # What the RFCs ask, and where it is done
//
//   - RFC 3261 §18.1.1, sending requests: the top Via gets the transport
//     and the sent-by (a listener's address, or the connection's own); a
//     UDP request over 1300 bytes (or within 200 bytes of Layer.MTU) goes
//     over TCP instead, and back to UDP if the connection is refused or
//     reset; an open connection to the destination is reused.
//   - §18.1.2, receiving responses: a response whose top Via sent-by is not
//     one this Layer inserts is discarded (and counted).
//   - §18.2.1, receiving requests: "received" is added when the sent-by host
//     is a name or differs from the source address.
//   - §18.2.2, sending responses: over the connection the request came on;
//     else a new connection to received (or sent-by) and the sent-by port;
//     maddr; received and sent-by port; sent-by resolved with
//     Layer.ResolveSentBy (RFC 3263 §5).
//   - §18.3, framing: Content-Length on streams (sip.Reader), datagram and
//     WebSocket message boundaries otherwise. §18 persistent connections:
//     kept until Limits.IdleTimeout without traffic.
//   - RFC 3581 (rport): ";rport" on requests sent; rport and received
//     filled in on requests received; UDP responses to received:rport,
//     from the socket the request came in on.
//   - RFC 5626 §4.4.1: a CRLFCRLF ping on a stream is answered with a CRLF
//     pong. §4.4.2 and §8: a STUN Binding Request on a SIP UDP port is
//     answered with XOR-MAPPED-ADDRESS (RFC 5389 §15.2); STUN is never
//     parsed as SIP. [Dest].Flow sends a request over exactly the flow a UA
//     registered on (§5.3).
//   - RFC 5923 (connection reuse), with Layer.Alias: ";alias" on requests
//     over TCP and TLS, and an aliased inbound connection used for requests
//     to its peer's sent-by; over TLS only with a verified client
//     certificate naming the destination host (§8.2, §9.2).
//   - RFC 7118 (SIP over WebSocket): WS and WSS listeners are HTTP/1.1
//     servers that upgrade any path with the subprotocol "sip" and refuse
//     handshakes that do not offer it; clients dial ws:// and wss:// with it;
//     one SIP message per WebSocket message, text when UTF-8 and binary
//     otherwise (§4.2); responses only on the connection of the request
//     (§5.3).
//
// # Untrusted input and limits
//
// Unparseable datagrams are dropped and never answered (an answer to a
// forged source would make the Layer an amplifier). On a stream or a
// WebSocket, a message that can be answered (its Via, From, To, Call-ID and
// CSeq are intact) gets the status the parser names, usually 400; after a
// framing error nothing more is read, and the connection is closed once
// the requests read on it before have been answered (at most 32 s later;
// §18.2.2 wants their responses on it). [Limits] bound message size,
// connections in total and per remote IP, idle time, the time to receive
// one message once it has started (slowloris), TLS handshakes and writes;
// exceeding one closes only the flow at fault and is counted in [Stats].
//
// # Concurrency
//
// Each listener has one goroutine (its accept or read loop) and each
// connection one (its read loop), on which Handler runs: a Handler that
// blocks stalls its connection or UDP socket. Writes run on the caller's
// goroutine, serialized per connection. [Layer.Shutdown] stops accepting,
// waits for messages being read and handled, and returns once every
// goroutine of the Layer has ended.
//
// On Linux, UDP datagrams are read and written with raw recvfrom and
// sendto calls on the socket's syscall.RawConn (non-blocking; the runtime
// poller waits when they would block), not through net.UDPConn: the
// net package's calls enter the runtime's syscall state, which wakes the
// sysmon thread each time the process had gone idle, and at a few hundred
// calls a second that cost a proxy about a third of its CPU.
//
// # Observing
//
// [Layer.Stats] returns the counters; Layer.Tap sees every message in and
// out (with [TapBuffer] to decouple a slow consumer); Layer.Logger gets
// debug records for everything dropped.
package transport
