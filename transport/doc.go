// Package transport moves SIP messages over UDP, TCP, TLS, WebSocket and
// secure WebSocket, on IPv4 and IPv6.
//
// It implements RFC 3261 §18 (sending requests and responses, the Via
// sent-by, received and maddr rules), RFC 3581 (rport), RFC 5626 §4.4.1
// (CRLF keep-alives), RFC 5923 (connection reuse) and RFC 7118 (SIP over
// WebSocket). [Network] names the transports; it is also what the resolve
// package returns for RFC 3263 server location.
package transport
