package transport

import (
	"errors"
	"strings"
)

// Network identifies a SIP transport protocol as it appears in a Via
// header's sent-protocol (RFC 3261 §20.42, RFC 7118 §5) and in the
// "transport" URI parameter (§19.1.1). The zero value is [Unknown].
type Network uint8

// The transports Parley knows. SCTP is named so that it can be parsed and
// reported; Parley does not implement an SCTP transport.
const (
	Unknown Network = iota
	UDP
	TCP
	TLS
	SCTP
	WS
	WSS
)

var networkNames = [...]string{
	Unknown: "",
	UDP:     "UDP",
	TCP:     "TCP",
	TLS:     "TLS",
	SCTP:    "SCTP",
	WS:      "WS",
	WSS:     "WSS",
}

// ErrUnknownNetwork is returned by [ParseNetwork] for a name that is not a
// transport Parley knows.
var ErrUnknownNetwork = errors.New("transport: unknown network")

// String returns the canonical upper-case token used in Via headers, e.g.
// "UDP" or "WSS". Unknown returns "".
func (n Network) String() string {
	if int(n) < len(networkNames) {
		return networkNames[n]
	}
	return ""
}

// ParseNetwork maps a transport token (case-insensitive, as in Via and in the
// transport URI parameter) to a Network.
func ParseNetwork(s string) (Network, error) {
	for n := UDP; n <= WSS; n++ {
		if strings.EqualFold(s, networkNames[n]) {
			return n, nil
		}
	}
	return Unknown, ErrUnknownNetwork
}

// Reliable reports whether n is a reliable, congestion-controlled transport
// (RFC 3261 §17.1.1.2: timers A, E and G are used only on unreliable ones).
func (n Network) Reliable() bool { return n != UDP && n != Unknown }

// Secure reports whether n protects the hop with TLS (§26.2.1; sips requires it).
func (n Network) Secure() bool { return n == TLS || n == WSS }

// Stream reports whether n carries a byte stream that must be framed by
// Content-Length (§18.3), as opposed to datagrams or WebSocket messages.
func (n Network) Stream() bool { return n == TCP || n == TLS || n == SCTP }

// DefaultPort is the port used when a URI or Via names none: 5060, or 5061
// for TLS (RFC 3261 §19.1.2, §18.2.1); WebSocket uses the HTTP ports 80 and
// 443 (RFC 7118 §5, RFC 6455 §3).
func (n Network) DefaultPort() uint16 {
	switch n {
	case TLS:
		return 5061
	case WS:
		return 80
	case WSS:
		return 443
	default:
		return 5060
	}
}
