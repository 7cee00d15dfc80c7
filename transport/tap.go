package transport

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Direction says whether a tapped message was received or sent.
type Direction uint8

// Directions of a [TapEvent].
const (
	Inbound Direction = iota + 1
	Outbound
)

// String returns "in" or "out".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "in"
	case Outbound:
		return "out"
	}
	return ""
}

// TapEvent is one message seen by the tap: received (as it arrived, before
// the Via processing of §18.2.1) or sent. A sent message (retransmissions
// included; CRLF keep-alives are not tapped) is tapped just before it is
// written to the socket, so a reply to it is never tapped before it; if
// that write fails, the event stays (there is no field saying so) and the
// sender gets the error.
type TapEvent struct {
	Direction     Direction
	Network       Network
	Local, Remote netip.AddrPort
	ConnID        uint64
	Time          time.Time
	// Data is the message: the datagram or WebSocket message as received,
	// a stream message as framed (re-encoded from the parse, which keeps
	// every header byte for byte except that folded lines are unfolded),
	// or the bytes sent. It is a copy that the tap owns.
	Data []byte
}

// tap hands a copy of b to the Layer's tap, if any. The copy is made only
// when a tap is set, so an unset tap costs one nil check.
func (l *Layer) tap(dir Direction, f Flow, b []byte) {
	t := l.Tap
	if t == nil {
		return
	}
	t(TapEvent{
		Direction: dir, Network: f.Network, Local: f.Local, Remote: f.Remote, ConnID: f.ConnID,
		Time: time.Now(), Data: append([]byte(nil), b...),
	})
}

// TapBuffer decouples a slow consumer from the Layer: its Tap method never
// blocks; it queues events in a bounded channel and drops (and counts)
// those that do not fit.
//
//	tb := transport.NewTapBuffer(1024)
//	layer.Tap = tb.Tap
//	go func() { for e := range tb.Events() { ... } }()
type TapBuffer struct {
	ch      chan TapEvent
	dropped atomic.Uint64
}

// NewTapBuffer returns a TapBuffer holding up to n events (n < 1 means 1).
func NewTapBuffer(n int) *TapBuffer {
	return &TapBuffer{ch: make(chan TapEvent, max(n, 1))}
}

// Tap queues e, or drops it when the buffer is full. Use it as Layer.Tap.
func (b *TapBuffer) Tap(e TapEvent) {
	select {
	case b.ch <- e:
	default:
		b.dropped.Add(1)
	}
}

// Events returns the channel the events are queued on. It is never
// closed: stop reading when the Layer is shut down.
func (b *TapBuffer) Events() <-chan TapEvent { return b.ch }

// Dropped returns the number of events dropped because the buffer was full.
func (b *TapBuffer) Dropped() uint64 { return b.dropped.Load() }
