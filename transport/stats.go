package transport

import "sync/atomic"

// Stats is a snapshot of a Layer's counters, returned by [Layer.Stats].
// Every counter only grows, except ConnsOpen.
type Stats struct {
	// Net holds per-network message and byte counts, indexed by Network
	// (Net[UDP], Net[TCP], ...).
	Net [WSS + 1]NetStats
	// ParseErrors counts messages that could not be parsed, on any
	// network (unparseable datagrams are also counted in DatagramsDropped).
	ParseErrors uint64
	// DatagramsDropped counts UDP datagrams dropped without an answer:
	// unparseable, over the size limit, requests without a Via, or STUN
	// messages other than Binding Requests.
	DatagramsDropped uint64
	// ResponsesDiscarded counts responses whose top Via sent-by is not one
	// this Layer inserts (RFC 3261 §18.1.2), or that have no Via.
	ResponsesDiscarded uint64
	// ConnsOpen is the number of connections open now (accepted, including
	// WebSocket connections still in their HTTP handshake, and dialled).
	ConnsOpen int64
	// ConnsAccepted, ConnsDialed and ConnsClosed count connections accepted
	// (within the limits), dialled successfully and closed.
	ConnsAccepted, ConnsDialed, ConnsClosed uint64
	// Limits counts the times each limit was hit.
	Limits LimitStats
	// KeepAlives counts CRLFCRLF pings answered with a CRLF pong
	// (RFC 5626 §4.4.1) and CRLF-only datagrams ignored.
	KeepAlives uint64
	// STUNBindings counts STUN Binding Requests answered (RFC 5626 §4.4.2).
	STUNBindings uint64
}

// NetStats counts the messages and bytes of one network.
type NetStats struct {
	MsgsIn, MsgsOut   uint64
	BytesIn, BytesOut uint64
}

// LimitStats counts the times each of [Limits] was hit.
type LimitStats struct {
	Conns               uint64 // MaxConns: connection refused or closed at accept
	ConnsPerIP          uint64 // MaxConnsPerIP
	MessageSize         uint64 // MaxMessageSize
	ReadTimeout         uint64 // slowloris: a message not complete within ReadTimeout
	IdleTimeout         uint64 // connection closed after IdleTimeout without traffic
	TLSHandshakeTimeout uint64 // TLSHandshakeTimeout
	WriteTimeout        uint64 // WriteTimeout
}

type netCounters struct {
	msgsIn, msgsOut, bytesIn, bytesOut atomic.Uint64
}

type counters struct {
	net                                                   [WSS + 1]netCounters
	parseErrors, datagramsDropped, responsesDiscarded     atomic.Uint64
	connsOpen                                             atomic.Int64
	connsAccepted, connsDialed, connsClosed               atomic.Uint64
	limConns, limPerIP, limSize, limRead, limIdle, limTLS atomic.Uint64
	limWrite, keepAlives, stunBindings                    atomic.Uint64
}

func (c *counters) in(n Network, bytes int) {
	if int(n) < len(c.net) {
		c.net[n].msgsIn.Add(1)
		c.net[n].bytesIn.Add(uint64(bytes))
	}
}

func (c *counters) out(n Network, bytes int) {
	if int(n) < len(c.net) {
		c.net[n].msgsOut.Add(1)
		c.net[n].bytesOut.Add(uint64(bytes))
	}
}

// Stats returns a snapshot of the counters.
func (l *Layer) Stats() Stats {
	c := &l.stats
	var s Stats
	for i := range c.net {
		s.Net[i] = NetStats{
			MsgsIn:   c.net[i].msgsIn.Load(),
			MsgsOut:  c.net[i].msgsOut.Load(),
			BytesIn:  c.net[i].bytesIn.Load(),
			BytesOut: c.net[i].bytesOut.Load(),
		}
	}
	s.ParseErrors = c.parseErrors.Load()
	s.DatagramsDropped = c.datagramsDropped.Load()
	s.ResponsesDiscarded = c.responsesDiscarded.Load()
	s.ConnsOpen = c.connsOpen.Load()
	s.ConnsAccepted = c.connsAccepted.Load()
	s.ConnsDialed = c.connsDialed.Load()
	s.ConnsClosed = c.connsClosed.Load()
	s.Limits = LimitStats{
		Conns:               c.limConns.Load(),
		ConnsPerIP:          c.limPerIP.Load(),
		MessageSize:         c.limSize.Load(),
		ReadTimeout:         c.limRead.Load(),
		IdleTimeout:         c.limIdle.Load(),
		TLSHandshakeTimeout: c.limTLS.Load(),
		WriteTimeout:        c.limWrite.Load(),
	}
	s.KeepAlives = c.keepAlives.Load()
	s.STUNBindings = c.stunBindings.Load()
	return s
}
