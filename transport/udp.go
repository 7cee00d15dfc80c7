package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"
)

// readLoop receives the datagrams of a UDP listener. The buffer is reused:
// sip.Parse copies what it keeps.
func (ln *listener) readLoop() {
	l := ln.l
	defer l.wg.Done()
	buf := make([]byte, 1<<16)
	var op *udpOp
	if ln.raw != nil {
		op = newReadOp(buf)
	}
	var delay time.Duration
	for {
		var n int
		var src netip.AddrPort
		var err error
		if op != nil {
			n, src, err = ln.raw.readFrom(op)
		} else {
			n, src, err = ln.udp.ReadFromUDPAddrPort(buf)
		}
		if err != nil {
			if ln.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors reported on the socket and the like: keep reading.
			delay = min(max(2*delay, time.Millisecond), 100*time.Millisecond)
			l.log.Debug("transport: UDP read error", logLocal, ln.addr, logError, err)
			if !l.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		l.handleDatagram(ln, buf[:n], unmap(src))
	}
}

func (l *Layer) handleDatagram(ln *listener, b []byte, src netip.AddrPort) {
	if onlyCRLF(b) {
		// A CRLF keep-alive sent over UDP by a peer that should not
		// (RFC 5626 §4.4.1 forbids it) is ignored.
		l.stats.keepAlives.Add(1)
		return
	}
	if isSTUN(b) {
		// RFC 5626 §8: a SIP UDP port is also "a limited version of a STUN
		// server"; STUN is told from SIP by its first bits and magic cookie
		// and is never parsed as SIP.
		l.answerSTUN(ln, b, src)
		return
	}
	f := Flow{Network: UDP, Local: ln.addr, Remote: src}
	l.tap(Inbound, f, b)
	if len(b) > l.Limits.maxMessageSize() {
		l.stats.limSize.Add(1)
		l.stats.datagramsDropped.Add(1)
		return
	}
	m, err := l.Limits.sip().Parse(b)
	if err != nil {
		// Never answered: a reply to a forged source would make us an
		// amplifier (DESIGN.md, RFC 3261 §26.1.5).
		l.stats.parseErrors.Add(1)
		l.stats.datagramsDropped.Add(1)
		l.log.Debug("transport: unparseable datagram dropped", logRemote, src, logError, err)
		return
	}
	l.receive(m, f, nil, len(b))
}

func onlyCRLF(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// STUN (RFC 5389) constants.
const (
	stunMagic           = 0x2112A442
	stunHeaderLen       = 20
	stunBindingRequest  = 0x0001
	stunBindingSuccess  = 0x0101
	stunXORMappedAddr   = 0x0020
	stunFamilyIPv4      = 0x01
	stunFamilyIPv6      = 0x02
	stunMaxResponseSize = stunHeaderLen + 4 + 20
)

// isSTUN reports whether b looks like a STUN message: the two most
// significant bits zero and the magic cookie at bytes 4–7 (RFC 5389 §6).
func isSTUN(b []byte) bool {
	return len(b) >= 8 && b[0]&0xC0 == 0 && binary.BigEndian.Uint32(b[4:8]) == stunMagic
}

// answerSTUN answers a Binding Request with a Binding Success Response
// carrying XOR-MAPPED-ADDRESS (RFC 5626 §8: "The UAS, proxy, or registrar
// responds to a valid Binding Request with a Binding Response that MUST
// include the XOR-MAPPED-ADDRESS attribute"; RFC 5389 §15.2). Any other
// STUN message is dropped.
func (l *Layer) answerSTUN(ln *listener, b []byte, src netip.AddrPort) {
	if len(b) < stunHeaderLen || binary.BigEndian.Uint16(b[0:2]) != stunBindingRequest ||
		int(binary.BigEndian.Uint16(b[2:4]))+stunHeaderLen != len(b) || len(b)%4 != 0 {
		l.stats.datagramsDropped.Add(1)
		return
	}
	var out [stunMaxResponseSize]byte
	r := appendSTUNBindingSuccess(out[:0], b[8:20], src)
	if _, err := ln.udp.WriteToUDPAddrPort(r, src); err != nil {
		l.log.Debug("transport: STUN response failed", logRemote, src, logError, err)
		return
	}
	l.stats.stunBindings.Add(1)
}

// appendSTUNBindingSuccess appends a Binding Success Response for the
// transaction ID txid reporting addr.
func appendSTUNBindingSuccess(b, txid []byte, addr netip.AddrPort) []byte {
	ip := addr.Addr().Unmap()
	alen := 8
	if ip.Is6() {
		alen = 20
	}
	b = binary.BigEndian.AppendUint16(b, stunBindingSuccess)
	b = binary.BigEndian.AppendUint16(b, uint16(4+alen))
	b = binary.BigEndian.AppendUint32(b, stunMagic)
	b = append(b, txid...)
	// RFC 5389 §15.2: X-Port is the port XOR the 16 most significant bits
	// of the magic cookie; X-Address is the address XOR the magic cookie
	// (IPv4) or the magic cookie followed by the transaction ID (IPv6).
	b = binary.BigEndian.AppendUint16(b, stunXORMappedAddr)
	b = binary.BigEndian.AppendUint16(b, uint16(alen))
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], stunMagic)
	copy(key[4:], txid)
	if ip.Is4() {
		b = append(b, 0, stunFamilyIPv4)
		b = binary.BigEndian.AppendUint16(b, addr.Port()^uint16(stunMagic>>16))
		a := ip.As4()
		for i := range a {
			b = append(b, a[i]^key[i])
		}
		return b
	}
	b = append(b, 0, stunFamilyIPv6)
	b = binary.BigEndian.AppendUint16(b, addr.Port()^uint16(stunMagic>>16))
	a := ip.As16()
	for i := range a {
		b = append(b, a[i]^key[i])
	}
	return b
}

// writeUDP sends one encoded message from ln to dst. The tap sees it just
// before the write, so that a reply is never tapped before the message it
// answers; a write that then fails is not reported to the tap (TapEvent
// has no field for it), only returned.
func (l *Layer) writeUDP(ln *listener, b []byte, dst netip.AddrPort) error {
	if l.Tap != nil {
		l.tap(Outbound, Flow{Network: UDP, Local: ln.addr, Remote: dst}, b)
	}
	var err error
	raw := false
	if ln.raw != nil {
		raw, err = ln.raw.writeTo(b, dst)
	}
	if !raw {
		_, err = ln.udp.WriteToUDPAddrPort(b, dst)
	}
	if err != nil {
		return err
	}
	l.stats.out(UDP, len(b))
	return nil
}

// routeLocal returns the local address the system would send from to
// reach dst (a connected UDP socket sends nothing). Results are cached, in
// a map bounded to a few hundred entries.
func (l *Layer) routeLocal(dst netip.Addr) (netip.Addr, error) {
	l.mu.Lock()
	a, ok := l.routes[dst]
	l.mu.Unlock()
	if ok {
		return a, nil
	}
	if dst.IsLoopback() {
		a = dst
	} else {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		if err != nil {
			return netip.Addr{}, err
		}
		a = addrPortOf(c.LocalAddr()).Addr()
		c.Close()
	}
	l.mu.Lock()
	if len(l.routes) >= 256 {
		clear(l.routes)
	}
	l.routes[dst] = a
	l.mu.Unlock()
	return a, nil
}

// udpFor picks the UDP socket to send a request to dst from, and the
// sent-by to put in the top Via. It prefers a listener bound to the local
// address the route to dst uses, then one bound to the unspecified address
// of the right family; without either it opens an ephemeral socket on the
// local address (RFC 3581 §3: the response comes back to the source
// address and port, which the Via then names).
func (l *Layer) udpFor(dst netip.AddrPort) (*listener, netip.AddrPort, error) {
	local, err := l.routeLocal(dst.Addr())
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, netip.AddrPort{}, ErrClosed
	}
	var wild *listener
	for ln := range l.listeners {
		if ln.network != UDP || ln.closed.Load() {
			continue
		}
		a := ln.addr.Addr()
		if a == local {
			return ln, ln.addr, nil
		}
		if a.IsUnspecified() && (a.Is6() || local.Is4()) && wild == nil {
			wild = ln
		}
	}
	if wild != nil {
		sb := netip.AddrPortFrom(local, wild.addr.Port())
		l.sentBy[endpoint{UDP, sb}] = struct{}{}
		return wild, sb, nil
	}
	if ln := l.implicit[local]; ln != nil && !ln.closed.Load() {
		return ln, ln.addr, nil
	}
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	ln := &listener{l: l, network: UDP, udp: pc, raw: newRawUDP(pc), addr: addrPortOf(pc.LocalAddr())}
	l.listeners[ln] = struct{}{}
	l.byAddr[endpoint{UDP, ln.addr}] = ln
	l.implicit[local] = ln
	l.sentBy[endpoint{UDP, ln.addr}] = struct{}{}
	l.wg.Add(1)
	go ln.readLoop()
	return ln, ln.addr, nil
}

// listenerAt returns the open listener bound to exactly addr, or nil.
func (l *Layer) listenerAt(n Network, addr netip.AddrPort) *listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.byAddr[endpoint{n, addr}]
	if ln == nil || ln.closed.Load() {
		return nil
	}
	return ln
}

// sentByFor returns the sent-by for a request sent over connection c: the
// address of a listener of c's network on c's local address (or on the
// unspecified address, with c's local IP), else c's local address, on
// which c itself receives the response (§18.1.1: "the client transport
// MUST be prepared to receive the response on the same connection").
func (l *Layer) sentByFor(c *conn) netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	local := c.local.Addr()
	var wild *listener
	for ln := range l.listeners {
		if ln.network != c.network || ln.closed.Load() {
			continue
		}
		a := ln.addr.Addr()
		if a == local {
			return ln.addr
		}
		if a.IsUnspecified() && (a.Is6() || local.Is4()) && wild == nil {
			wild = ln
		}
	}
	if wild != nil {
		sb := netip.AddrPortFrom(local, wild.addr.Port())
		l.sentBy[endpoint{c.network, sb}] = struct{}{}
		return sb
	}
	return c.local
}
