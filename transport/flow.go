package transport

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/parleysip/parley/sip"
)

// Flow identifies the path a message took: the network, the local and
// remote transport addresses and, for connection-oriented networks, the
// connection. It is comparable and usable as a map key; the zero value
// means "no flow".
//
// A Flow is what RFC 5626 §3.1 calls a flow. For UDP, Local is the address
// the receiving socket is bound to (possibly an unspecified address such as
// 0.0.0.0:5060) and ConnID is zero.
type Flow struct {
	Network       Network
	Local, Remote netip.AddrPort
	// ConnID is non-zero for connection-oriented flows (TCP, TLS, WS, WSS):
	// it names the connection, unique within a Layer for its lifetime.
	ConnID uint64
}

// Reliable reports whether the flow's network is reliable (RFC 3261
// §17.1.1.2: no retransmission timers A, E, G on reliable transports).
func (f Flow) Reliable() bool { return f.Network.Reliable() }

// IsZero reports whether f is the zero Flow.
func (f Flow) IsZero() bool { return f == Flow{} }

// String returns e.g. "TCP 127.0.0.1:5060->127.0.0.1:41234#7".
func (f Flow) String() string {
	s := f.Network.String() + " " + f.Local.String() + "->" + f.Remote.String()
	if f.ConnID != 0 {
		s += "#" + strconv.FormatUint(f.ConnID, 10)
	}
	return s
}

// Incoming is one received message with the flow it arrived on.
type Incoming struct {
	// Message is a *sip.Request (its top Via already carries received and
	// rport as RFC 3261 §18.2.1 and RFC 3581 §4 require) or a *sip.Response
	// (whose top Via sent-by was checked, §18.1.2). The Handler owns it.
	Message sip.Message
	Flow    Flow
	// Time is when the message was received.
	Time time.Time
}

// Dest says where to send a request.
type Dest struct {
	// Network and Addr are the transport and address to send to, usually a
	// target from the resolve package (RFC 3263 §4).
	Network Network
	Addr    netip.AddrPort
	// Host is the name the target was resolved from: it is the TLS server
	// name (SNI) and the name the certificate is verified against
	// (RFC 5922 §7.3), and the Host header of a WebSocket handshake. When
	// empty, the IP address is used for both.
	Host string
	// Flow, if non-zero and still open, is used instead: the request is sent
	// on exactly that flow (RFC 5626 §5.3, a registrar or edge proxy
	// reaching a UA over the flow it registered on). When the flow has
	// closed, the request goes to Network and Addr if Addr is valid, else
	// SendRequest fails with ErrFlowClosed (RFC 5626 §5.3: answer 430).
	// The size rule of RFC 3261 §18.1.1 does not move a request off an
	// explicit UDP flow: the flow is the only path to the UA.
	Flow Flow
}

// Errors returned by the Layer. Wrapped errors from the network carry the
// underlying cause.
var (
	// ErrClosed is returned after Shutdown or Close.
	ErrClosed = errors.New("transport: layer closed")
	// ErrNoVia is returned by SendRequest for a request without a top Via
	// carrying a branch (RFC 3261 §8.1.1.7), and by SendResponse for a
	// response without a Via.
	ErrNoVia = errors.New("transport: message has no top Via with a branch")
	// ErrFlowClosed is returned when a message must go over a flow or
	// connection that no longer exists.
	ErrFlowClosed = errors.New("transport: flow closed")
	// ErrTooManyConns is returned when opening a connection would exceed
	// Limits.MaxConns.
	ErrTooManyConns = errors.New("transport: connection limit reached")
	// ErrUnsupported is returned for a network the Layer cannot use
	// (Unknown, SCTP).
	ErrUnsupported = errors.New("transport: network not supported")
	// ErrNoTLSConfig is returned by Listen for TLS or WSS without
	// Layer.TLSConfig.
	ErrNoTLSConfig = errors.New("transport: TLS listener needs Layer.TLSConfig")
	// ErrBadDest is returned for a destination without a valid address.
	ErrBadDest = errors.New("transport: invalid destination")
	// ErrSubprotocol is returned when a WebSocket server does not accept
	// the "sip" subprotocol (RFC 7118 §4.1).
	ErrSubprotocol = errors.New("transport: WebSocket server did not accept subprotocol \"sip\"")
)
