package transport

import (
	"time"

	"github.com/parleysip/parley/sip"
)

// Limits bound what peers can make the Layer hold. The zero value of each
// field means its default; a negative value means no limit, except for
// MaxMessageSize and MaxHeaders, where it means the default. Exceeding a
// limit closes only the flow at fault (or refuses the connection), is
// counted in [Stats].Limits, and never affects other flows.
type Limits struct {
	// MaxMessageSize caps one message, start line to body. Zero means
	// 65535 bytes, the largest UDP payload (RFC 3261 §18.1.1: "implementations
	// MUST be able to handle messages up to the maximum datagram packet
	// size"). A datagram over the limit is dropped; a stream message over
	// it closes the connection (its framing is lost).
	MaxMessageSize int
	// MaxHeaders caps the header fields of one message. Zero means 256.
	MaxHeaders int
	// MaxConns caps the open connections of all connection-oriented
	// networks together, accepted and dialled. Zero means 10,000. An
	// accepted connection over the limit is closed at once; a dial over it
	// fails with ErrTooManyConns.
	MaxConns int
	// MaxConnsPerIP caps the accepted connections from one remote IP
	// address. Zero means 256.
	MaxConnsPerIP int
	// IdleTimeout closes a connection on which nothing was received or sent
	// for that long. Zero means 5 minutes: longer than the 120 s upper bound
	// RFC 5626 §4.4.1 gives for CRLF keep-alives of mains-powered UAs (with
	// room for one late ping), and longer than the 3 minutes that timer C
	// of an INVITE may run without traffic (RFC 3261 §16.6 bullet 11; §18
	// asks to keep connections "at least ... the longest amount of time the
	// element would need in order to bring a transaction from instantiation
	// to the terminated state"). UAs on battery send keep-alives only every
	// 672–840 s; a registrar serving them should raise this or send a
	// Flow-Timer (RFC 5626 §4.4.1, §5.4).
	IdleTimeout time.Duration
	// ReadTimeout is the time allowed to receive one message once its first
	// byte has arrived (slowloris protection). Zero means 10 s. It also
	// bounds the WebSocket HTTP handshake.
	ReadTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake of TLS and WSS
	// connections, accepted or dialled. Zero means 10 s.
	TLSHandshakeTimeout time.Duration
	// WriteTimeout bounds one write on a connection; a peer that does not
	// read for that long loses its connection. Zero means 10 s.
	WriteTimeout time.Duration
}

// Defaults of [Limits].
const (
	DefaultMaxMessageSize      = 65535
	DefaultMaxHeaders          = 256
	DefaultMaxConns            = 10000
	DefaultMaxConnsPerIP       = 256
	DefaultIdleTimeout         = 5 * time.Minute
	DefaultReadTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
)

func orInt(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 1)
	}
	return v
}

// orDur returns def for zero and 0 (no timeout) for a negative value.
func orDur(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (l Limits) maxMessageSize() int {
	if l.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return l.MaxMessageSize
}
func (l Limits) maxConns() int      { return orInt(l.MaxConns, DefaultMaxConns) }
func (l Limits) maxConnsPerIP() int { return orInt(l.MaxConnsPerIP, DefaultMaxConnsPerIP) }
func (l Limits) idle() time.Duration {
	return orDur(l.IdleTimeout, DefaultIdleTimeout)
}
func (l Limits) read() time.Duration { return orDur(l.ReadTimeout, DefaultReadTimeout) }
func (l Limits) tlsHandshake() time.Duration {
	return orDur(l.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
}
func (l Limits) write() time.Duration { return orDur(l.WriteTimeout, DefaultWriteTimeout) }

func (l Limits) sip() sip.Limits {
	return sip.Limits{MaxMessageSize: l.maxMessageSize(), MaxHeaders: l.MaxHeaders}
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}
