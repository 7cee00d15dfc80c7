package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parleysip/parley/sip"
)

// receive applies the Via rules to a parsed message and hands it to the
// Handler. c is the connection it came on, nil for UDP.
func (l *Layer) receive(m sip.Message, f Flow, c *conn, size int) {
	l.stats.in(f.Network, size)
	switch m := m.(type) {
	case *sip.Request:
		v := m.TopVia()
		if v == nil {
			// No Via: nowhere to send a response (§8.1.1.7, §18.2.2).
			if f.Network == UDP {
				l.stats.datagramsDropped.Add(1)
			}
			l.stats.parseErrors.Add(1)
			return
		}
		nv, changed := receivedVia(*v, f.Remote)
		if changed {
			m.SetTopVia(nv)
		}
		if c != nil && l.Alias && nv.Params.Has("alias") {
			l.alias(c, &nv)
		}
	case *sip.Response:
		if !l.ownsSentBy(m.TopVia(), f) {
			// §18.1.2: "If the value of the "sent-by" parameter in that
			// header field value does not correspond to a value that the
			// client transport is configured to insert into requests, the
			// response MUST be silently discarded."
			l.stats.responsesDiscarded.Add(1)
			l.log.Debug("transport: response with foreign sent-by discarded", logRemote, f.Remote)
			return
		}
	}
	if h := l.Handler; h != nil {
		h(Incoming{Message: m, Flow: f, Time: time.Now()})
	}
}

// receivedVia applies §18.2.1 and RFC 3581 §4 to the top Via of a request
// received from src, and reports whether it changed.
func receivedVia(v sip.Via, src netip.AddrPort) (sip.Via, bool) {
	ip := src.Addr().Unmap().WithZone("")
	if rp, ok := v.Params.Get("rport"); ok && rp == "" {
		// RFC 3581 §4: "If this Via header field value contains an "rport"
		// parameter with no value, it MUST set the value of the parameter
		// to the source port of the request. ... the server MUST insert a
		// "received" parameter containing the source IP address that the
		// request came from, even if it is identical to the value of the
		// "sent-by" component."
		v.Params = rportReceived(v.Params, src.Port(), ip)
		return v, true
	}
	// §18.2.1: "If the host portion of the "sent-by" parameter contains a
	// domain name, or if it contains an IP address that differs from the
	// packet source address, the server MUST add a "received" parameter
	// to that Via header field value."
	if a, ok := v.Addr(); ok && a.Unmap().WithZone("") == ip {
		return v, false
	}
	v.Params = v.Params.Set("received", ip.String())
	return v, true
}

// rportReceived returns p with rport=port (in place of the empty rport)
// and received=ip, built in one buffer: this runs for every request from
// an RFC 3581 client.
func rportReceived(p sip.Params, port uint16, ip netip.Addr) sip.Params {
	var ipb [64]byte
	ipText := ip.AppendTo(ipb[:0])
	var b strings.Builder
	// At most: p, "=" and 5 digits for the rport, ";received=" and ip.
	b.Grow(len(p) + 6 + len(";received=") + len(ipText))
	var num [5]byte
	for name, value := range p.All() {
		if strings.EqualFold(name, "received") {
			continue
		}
		b.WriteByte(';')
		b.WriteString(name)
		if strings.EqualFold(name, "rport") {
			b.WriteByte('=')
			b.Write(strconv.AppendUint(num[:0], uint64(port), 10))
			continue
		}
		if value != "" {
			b.WriteByte('=')
			b.WriteString(value)
		}
	}
	b.WriteString(";received=")
	b.Write(ipText)
	return sip.Params(b.String())
}

// ownsSentBy reports whether the top Via of a response names a sent-by
// this Layer inserts: a listener address, or the local address of the
// connection the response came on.
func (l *Layer) ownsSentBy(v *sip.Via, f Flow) bool {
	if v == nil {
		return false
	}
	n, err := ParseNetwork(v.Transport)
	if err != nil {
		return false
	}
	a, ok := v.Addr()
	if !ok {
		return false // this Layer inserts IP addresses only
	}
	port := v.Port
	if port == 0 {
		port = n.DefaultPort()
	}
	sb := netip.AddrPortFrom(a.Unmap(), port)
	if f.ConnID != 0 && n == f.Network && sb == f.Local {
		return true
	}
	l.mu.Lock()
	_, ok = l.sentBy[endpoint{n, sb}]
	l.mu.Unlock()
	return ok
}

// alias records the RFC 5923 alias of an accepted TCP or TLS connection:
// requests to the top Via's received IP and sent-by port reuse it (§8.2).
// Over TLS, only a peer that presented a certificate that verified
// (§9.2: "If the client does not present a certificate, the server MUST
// proceed as if the "alias" header field parameter was not present").
func (l *Layer) alias(c *conn, v *sip.Via) {
	if !c.inbound || (c.network != TCP && c.network != TLS) || (c.network == TLS && !c.verified) {
		return
	}
	port := v.Port
	if port == 0 {
		// §8.2: "If the sent-by production of the Via header field
		// contains a port, the server MUST use it as a destination port.
		// Otherwise, the default port is the destination port."
		port = c.network.DefaultPort()
	}
	k := endpoint{c.network, netip.AddrPortFrom(c.remote.Addr(), port)}
	l.mu.Lock()
	if !c.closed.Load() {
		l.addPoolLocked(c, k)
	}
	l.mu.Unlock()
}

// stampVia sets the transport and sent-by of the top Via (§18.1.1: "the
// client transport MUST insert a value of the "sent-by" field into the Via
// header field"), adds rport (RFC 3581 §3) and, for TCP and TLS with
// Alias, alias (RFC 5923 §8.1).
func (l *Layer) stampVia(req *sip.Request, n Network, sentBy netip.AddrPort) {
	v := *req.TopVia()
	v.Transport = n.String()
	v.Host = l.hostString(sentBy.Addr().Unmap().WithZone(""))
	v.Port = sentBy.Port()
	if !l.NoRPort && !v.Params.Has("rport") {
		// RFC 3581 §3: the parameter "MUST have no value".
		v.Params = v.Params.Set("rport", "")
	}
	if l.Alias {
		if n == TCP || n == TLS {
			if !v.Params.Has("alias") {
				v.Params = v.Params.Set("alias", "")
			}
		} else if v.Params.Has("alias") {
			v.Params = v.Params.Del("alias")
		}
	}
	req.SetTopVia(v)
}

// hostString returns a.String(), reusing the last result: a Layer sends
// from few addresses, and this runs for every request.
func (l *Layer) hostString(a netip.Addr) string {
	if h := l.lastHost.Load(); h != nil && h.addr == a {
		return h.s
	}
	h := &hostText{addr: a, s: a.String()}
	l.lastHost.Store(h)
	return h.s
}

// hostText is an address and its text form.
type hostText struct {
	addr netip.Addr
	s    string
}

// mtuThreshold is the size above which a UDP request goes over TCP.
func (l *Layer) mtuThreshold() int {
	if l.MTU > 0 {
		return l.MTU - 200
	}
	return 1300
}

// SendRequest sends req to d and returns the flow it went on.
//
// The request must have a top Via with a branch (the transaction layer's);
// SendRequest sets its transport and sent-by to the network and local
// address used, adds ";rport" (unless NoRPort) and, with Alias over TCP
// or TLS, ";alias". It changes req, so do not use req concurrently; a
// retransmission may pass the same req again.
//
// RFC 3261 §18.1.1: a UDP request larger than 1300 bytes (or within 200
// bytes of MTU when set) goes over TCP to the same address instead, with
// the Via changed to match; if the TCP connection is refused or reset, the
// request is retried over UDP. Connections are reused: an open connection
// to d.Network and d.Addr (dialled, accepted from there, or aliased per
// RFC 5923) is used before a new one is dialled within ctx.
func (l *Layer) SendRequest(ctx context.Context, req *sip.Request, d Dest) (Flow, error) {
	l.init()
	if l.isClosed() {
		return Flow{}, ErrClosed
	}
	if v := req.TopVia(); v == nil || v.Branch() == "" {
		return Flow{}, ErrNoVia
	}
	if !d.Flow.IsZero() {
		f, err := l.sendOnFlow(ctx, req, d.Flow)
		if !errors.Is(err, ErrFlowClosed) || !d.Addr.IsValid() {
			return f, err
		}
	}
	if !d.Addr.IsValid() || d.Addr.Port() == 0 {
		return Flow{}, ErrBadDest
	}
	addr := unmap(d.Addr)
	switch d.Network {
	case UDP:
		ln, sentBy, err := l.udpFor(addr)
		if err != nil {
			return Flow{}, fmt.Errorf("transport: send to UDP %v: %w", addr, err)
		}
		l.stampVia(req, UDP, sentBy)
		// Encoded once: the size is that of the bytes (Request.Len would
		// walk the message a second time).
		bp := getBuf()
		defer putBuf(bp)
		b := req.AppendTo(*bp)
		*bp = b
		if len(b) > l.mtuThreshold() {
			// §18.1.1: "If a request is within 200 bytes of the path MTU,
			// or if it is larger than 1300 bytes and the path MTU is
			// unknown, the request MUST be sent using an RFC 2914
			// congestion controlled transport protocol, such as TCP. If
			// this causes a change in the transport protocol from the one
			// indicated in the top Via, the value in the top Via MUST be
			// changed."
			f, err := l.sendConn(ctx, req, TCP, addr, d.Host)
			if err == nil || !refused(err) {
				return f, err
			}
			// "if the attempt to establish the connection generates
			// either an ICMP Protocol Not Supported, or results in a TCP
			// reset, the element SHOULD retry the request, using UDP."
			l.log.Debug("transport: TCP refused; retrying over UDP", logRemote, addr, logError, err)
			l.stampVia(req, UDP, sentBy)
			b = req.AppendTo(b[:0])
			*bp = b
		}
		return l.writeUDPRequest(ln, b, addr)
	case TCP, TLS, WS, WSS:
		return l.sendConn(ctx, req, d.Network, addr, d.Host)
	}
	return Flow{}, fmt.Errorf("%w: %v", ErrUnsupported, d.Network)
}

// refused reports a connection attempt answered with a reset or an ICMP
// protocol error.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ENOPROTOOPT) ||
		errors.Is(err, syscall.EPIPE)
}

func (l *Layer) sendUDP(req *sip.Request, ln *listener, dst netip.AddrPort) (Flow, error) {
	bp := getBuf()
	defer putBuf(bp)
	b := req.AppendTo(*bp)
	*bp = b
	return l.writeUDPRequest(ln, b, dst)
}

// writeUDPRequest sends the encoded request b from ln to dst.
func (l *Layer) writeUDPRequest(ln *listener, b []byte, dst netip.AddrPort) (Flow, error) {
	if err := l.writeUDP(ln, b, dst); err != nil {
		return Flow{}, fmt.Errorf("transport: send to UDP %v: %w", dst, err)
	}
	return Flow{Network: UDP, Local: ln.addr, Remote: dst}, nil
}

// sendOnFlow sends req on exactly f, or fails with ErrFlowClosed.
func (l *Layer) sendOnFlow(ctx context.Context, req *sip.Request, f Flow) (Flow, error) {
	if f.Network == UDP {
		ln := l.listenerAt(UDP, f.Local)
		if ln == nil {
			return Flow{}, ErrFlowClosed
		}
		sb := ln.addr
		if sb.Addr().IsUnspecified() {
			local, err := l.routeLocal(f.Remote.Addr())
			if err != nil {
				return Flow{}, err
			}
			sb = netip.AddrPortFrom(local, sb.Port())
			l.mu.Lock()
			l.sentBy[endpoint{UDP, sb}] = struct{}{}
			l.mu.Unlock()
		}
		l.stampVia(req, UDP, sb)
		return l.sendUDP(req, ln, f.Remote)
	}
	c := l.connByID(f.ConnID)
	if c == nil {
		return Flow{}, ErrFlowClosed
	}
	l.stampVia(req, c.network, l.sentByFor(c))
	if err := c.writeMsg(req); err != nil {
		return Flow{}, fmt.Errorf("%w: %v", ErrFlowClosed, err)
	}
	return c.flow(), nil
}

func (l *Layer) connByID(id uint64) *conn {
	if id == 0 {
		return nil
	}
	l.mu.Lock()
	c := l.conns[id]
	l.mu.Unlock()
	if c == nil || c.closed.Load() {
		return nil
	}
	return c
}

// sendConn sends req over a pooled or new connection to addr. A pooled
// connection that fails on write (the peer closed it meanwhile) is
// replaced by a new one once.
func (l *Layer) sendConn(ctx context.Context, req *sip.Request, n Network, addr netip.AddrPort, host string) (Flow, error) {
	for attempt := 0; ; attempt++ {
		c, fresh, err := l.getConn(ctx, n, addr, host)
		if err != nil {
			return Flow{}, fmt.Errorf("transport: connect %s %v: %w", n, addr, err)
		}
		l.stampVia(req, n, l.sentByFor(c))
		err = c.writeMsg(req)
		if err == nil {
			return c.flow(), nil
		}
		if fresh || attempt > 0 {
			return Flow{}, fmt.Errorf("transport: send %s %v: %w", n, addr, err)
		}
	}
}

type dialKey struct {
	ep   endpoint
	host string
}

type dialCall struct {
	done chan struct{}
	c    *conn
	err  error
}

// getConn returns an open connection to addr on n: a pooled one if its
// identity fits host, else a new one. Concurrent callers for the same
// target share one dial. fresh reports a new connection.
func (l *Layer) getConn(ctx context.Context, n Network, addr netip.AddrPort, host string) (c *conn, fresh bool, err error) {
	ep := endpoint{n, addr}
	dk := dialKey{ep, strings.ToLower(host)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, false, ErrClosed
	}
	// §18.1.1: "If a request is destined to an IP address, port, and
	// transport to which an existing connection is open, it is RECOMMENDED
	// that this connection be used to send the request".
	if pc := l.pool[ep]; pc != nil && !pc.closed.Load() && pc.identityOK(host) {
		l.mu.Unlock()
		return pc, false, nil
	}
	if dc := l.dials[dk]; dc != nil {
		l.mu.Unlock()
		select {
		case <-dc.done:
			return dc.c, true, dc.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	dc := &dialCall{done: make(chan struct{})}
	l.dials[dk] = dc
	l.mu.Unlock()

	dc.c, dc.err = l.dial(ctx, n, addr, host)
	l.mu.Lock()
	delete(l.dials, dk)
	l.mu.Unlock()
	close(dc.done)
	return dc.c, true, dc.err
}

// identityOK reports whether a pooled connection may carry a request for
// host: always for unsecured networks and when host is empty; for TLS and
// WSS only if the peer's certificate names host (RFC 5923 §8.2, RFC 5922
// §7.3).
func (c *conn) identityOK(host string) bool {
	if host == "" || !c.network.Secure() {
		return true
	}
	if !c.inbound && strings.EqualFold(c.hostname, host) {
		return true
	}
	if c.tlsConn == nil || !c.verified {
		return false
	}
	st := c.tlsConn.ConnectionState()
	return len(st.PeerCertificates) > 0 && st.PeerCertificates[0].VerifyHostname(host) == nil
}

// dial opens, admits and registers a connection.
func (l *Layer) dial(ctx context.Context, n Network, addr netip.AddrPort, host string) (*conn, error) {
	if err := l.admit(addr.Addr(), false); err != nil {
		return nil, err
	}
	var c *conn
	var err error
	switch n {
	case TCP, TLS:
		c, err = l.dialStream(ctx, n, addr, host)
	case WS, WSS:
		c, err = l.dialWS(ctx, n, addr, host)
	default:
		err = ErrUnsupported
	}
	if err != nil {
		l.release(addr.Addr(), false)
		return nil, err
	}
	if err := l.register(c, endpoint{n, addr}); err != nil {
		c.close()
		return nil, err
	}
	l.stats.connsDialed.Add(1)
	if c.ws != nil {
		go c.serveWS()
	} else {
		go c.serveStream()
	}
	return c, nil
}

func (l *Layer) clientTLS(addr netip.AddrPort, host string) *tls.Config {
	var cfg *tls.Config
	if l.ClientTLSConfig != nil {
		cfg = l.ClientTLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		if host != "" {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr.Addr().WithZone("").String()
		}
	}
	return cfg
}

func (l *Layer) dialStream(ctx context.Context, n Network, addr netip.AddrPort, host string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	c := l.newConn(n, nc, false)
	if n == TLS {
		cfg := l.clientTLS(addr, host)
		tc := tls.Client(nc, cfg)
		hctx := ctx
		if to := l.Limits.tlsHandshake(); to > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, to)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				l.stats.limTLS.Add(1)
			}
			nc.Close()
			return nil, err
		}
		c.tlsConn, c.nc = tc, tc
		c.hostname = cfg.ServerName
		c.verified = !cfg.InsecureSkipVerify
	}
	return c, nil
}

// SendResponse sends res where RFC 3261 §18.2.2 and RFC 3581 §4 say,
// given the flow in the request came on:
//
//   - reliable transports: on the connection the request came on if it is
//     still open; else (not for WS/WSS, whose responses can only go back on
//     the same connection, RFC 7118 §5.3) on a connection to the received
//     IP, or the sent-by host, and the sent-by port or the transport's
//     default port, then to the addresses ResolveSentBy gives;
//   - else to maddr, if present, on the sent-by port or 5060;
//   - else to the received IP and the rport value (RFC 3581 §4), or the
//     sent-by port, or 5060;
//   - else to the sent-by host, resolved with ResolveSentBy.
//
// UDP responses leave from the socket the request arrived on (RFC 3581
// §4: "The response MUST be sent from the same address and port that the
// corresponding request was received on").
func (l *Layer) SendResponse(ctx context.Context, res *sip.Response, in Flow) error {
	_, _, err := l.sendResponse(ctx, res, in, false)
	return err
}

// SendResponseKeep is SendResponse that also returns, for a response sent
// over UDP, a copy of the datagram and the flow it left on (the listener's
// address and the destination), so that the caller can drop res and send
// the same bytes again with [Layer.Resend]: a non-INVITE server
// transaction answering retransmissions in its Completed state needs only
// those (RFC 3261 §17.2.2). Over other networks, and on error, b is nil.
// b belongs to the caller; it may share an allocation of 16 KB with the
// copies of other responses, which stays alive while any of them does.
func (l *Layer) SendResponseKeep(ctx context.Context, res *sip.Response, in Flow) (b []byte, sent Flow, err error) {
	return l.sendResponse(ctx, res, in, true)
}

// Resend sends b, a datagram returned by [Layer.SendResponseKeep], again
// on the UDP flow it went out on: from the listener at sent.Local to
// sent.Remote. It fails with ErrFlowClosed if that listener has closed.
func (l *Layer) Resend(ctx context.Context, b []byte, sent Flow) error {
	if sent.Network != UDP {
		return fmt.Errorf("%w: Resend on %v", ErrUnsupported, sent.Network)
	}
	ln := l.listenerAt(UDP, sent.Local)
	if ln == nil {
		return ErrFlowClosed
	}
	if err := l.writeUDP(ln, b, sent.Remote); err != nil {
		return fmt.Errorf("transport: send response to UDP %v: %w", sent.Remote, err)
	}
	return nil
}

// sendResponse is SendResponse; keep asks for a copy of a UDP datagram.
func (l *Layer) sendResponse(ctx context.Context, res *sip.Response, in Flow, keep bool) ([]byte, Flow, error) {
	l.init()
	// No check for shutdown here: while Shutdown waits, a response to a
	// request read meanwhile still goes out on its connection; new
	// connections and closed listeners fail on their own.
	v := res.TopVia()
	if v == nil {
		return nil, Flow{}, ErrNoVia
	}
	n := in.Network
	if n == Unknown {
		var err error
		if n, err = ParseNetwork(v.Transport); err != nil {
			return nil, Flow{}, fmt.Errorf("%w: Via transport %q", ErrUnsupported, v.Transport)
		}
	}
	if n.Reliable() {
		return nil, Flow{}, l.sendResponseConn(ctx, res, n, v, in)
	}
	if n != UDP {
		return nil, Flow{}, fmt.Errorf("%w: %v", ErrUnsupported, n)
	}
	dst, err := l.udpResponseDest(ctx, v)
	if err != nil {
		return nil, Flow{}, err
	}
	ln := l.listenerAt(UDP, in.Local)
	if ln == nil {
		if ln, _, err = l.udpFor(dst); err != nil {
			return nil, Flow{}, err
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	b := res.AppendTo(*bp)
	*bp = b
	if err := l.writeUDP(ln, b, dst); err != nil {
		return nil, Flow{}, fmt.Errorf("transport: send response to UDP %v: %w", dst, err)
	}
	if !keep {
		return nil, Flow{}, nil
	}
	return l.kept.copy(b), Flow{Network: UDP, Local: ln.addr, Remote: dst}, nil
}

// keptChunk is the size of the chunks that keptSlab carves copies from.
const keptChunk = 16 << 10

// keptSlab hands out copies of datagrams carved from shared chunks: one
// allocation per fifty-odd responses instead of one each. Its users, the
// non-INVITE server transactions of a Layer, keep their copy for the same
// time (Timer J), so a chunk's copies are let go about together and a
// chunk is not held long by one of them.
type keptSlab struct {
	mu  sync.Mutex
	buf []byte // the current chunk; copies are carved from its end
}

// copy returns a copy of b, its capacity its length: appending to it
// reallocates and cannot touch the copies next to it.
func (s *keptSlab) copy(b []byte) []byte {
	if len(b) > keptChunk/8 {
		return append([]byte(nil), b...)
	}
	s.mu.Lock()
	if cap(s.buf)-len(s.buf) < len(b) {
		s.buf = make([]byte, 0, keptChunk)
	}
	n := len(s.buf)
	s.buf = append(s.buf, b...)
	c := s.buf[n:len(s.buf):len(s.buf)]
	s.mu.Unlock()
	return c
}

func (l *Layer) udpResponseDest(ctx context.Context, v *sip.Via) (netip.AddrPort, error) {
	port := v.Port
	if port == 0 {
		port = UDP.DefaultPort()
	}
	if maddr, ok := v.MAddr(); ok {
		// §18.2.2: "if the Via header field value contains a "maddr"
		// parameter, the response MUST be forwarded to the address listed
		// there, using the port indicated in "sent-by", or port 5060 if
		// none is present."
		if a, err := netip.ParseAddr(strings.Trim(maddr, "[]")); err == nil {
			return netip.AddrPortFrom(a.Unmap(), port), nil
		}
		addrs, err := l.resolveSentBy(ctx, maddr, v.Port, UDP)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return addrs[0], nil
	}
	if recv, ok := v.Received(); ok {
		if a, err := netip.ParseAddr(strings.Trim(recv, "[]")); err == nil {
			// RFC 3581 §4: "there is both a "received" parameter and an
			// "rport" parameter, the response MUST be sent to the IP
			// address listed in the "received" parameter, and the port in
			// the "rport" parameter." Else §18.2.2: "the response MUST be
			// sent to the address in the "received" parameter, using the
			// port indicated in the "sent-by" value, or using port 5060".
			if rp, ok := v.RPort(); ok && rp != 0 {
				return netip.AddrPortFrom(a.Unmap(), rp), nil
			}
			return netip.AddrPortFrom(a.Unmap(), port), nil
		}
	}
	if a, ok := v.Addr(); ok {
		if rp, ok := v.RPort(); ok && rp != 0 {
			return netip.AddrPortFrom(a.Unmap(), rp), nil
		}
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	// §18.2.2: "the response MUST be sent to the address indicated by the
	// "sent-by" value, using the procedures in Section 5 of [4]."
	addrs, err := l.resolveSentBy(ctx, v.Host, v.Port, UDP)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return addrs[0], nil
}

func (l *Layer) sendResponseConn(ctx context.Context, res *sip.Response, n Network, v *sip.Via, in Flow) error {
	// §18.2.2: "the response MUST be sent using the existing connection to
	// the source of the original request that created the transaction, if
	// that connection is still open."
	if c := l.connByID(in.ConnID); c != nil {
		return c.writeMsg(res)
	}
	if n == WS || n == WSS {
		// RFC 7118 §5.3: "SIP responses can only be sent over the existing
		// WebSocket connection."
		return ErrFlowClosed
	}
	port := v.Port
	if port == 0 {
		port = n.DefaultPort()
	}
	var first error
	try := func(a netip.AddrPort, host string) bool {
		c, _, err := l.getConn(ctx, n, a, host)
		if err == nil {
			err = c.writeMsg(res)
		}
		if err != nil && first == nil {
			first = err
		}
		return err == nil
	}
	// "If that connection is no longer open, the server SHOULD open a
	// connection to the IP address in the "received" parameter, if
	// present, using the port in the "sent-by" value, or the default port
	// for that transport, if no port is specified."
	host := ""
	if _, ok := v.Addr(); !ok {
		host = v.Host
	}
	if recv, ok := v.Received(); ok {
		if a, err := netip.ParseAddr(strings.Trim(recv, "[]")); err == nil && try(netip.AddrPortFrom(a.Unmap(), port), host) {
			return nil
		}
	} else if a, ok := v.Addr(); ok && try(netip.AddrPortFrom(a.Unmap(), port), "") {
		return nil
	}
	// "If that connection attempt fails, the server SHOULD use the
	// procedures in [4] for servers in order to determine the IP address
	// and port to open the connection and send the response to."
	if host != "" {
		addrs, err := l.resolveSentBy(ctx, host, v.Port, n)
		if err != nil && first == nil {
			first = err
		}
		for _, a := range addrs {
			if try(a, host) {
				return nil
			}
		}
	}
	if first == nil {
		first = ErrFlowClosed
	}
	return fmt.Errorf("transport: send response over %s: %w", n, first)
}

// resolveSentBy resolves a sent-by (or maddr) host with ResolveSentBy, or
// with A/AAAA lookups; it never returns an empty list without an error.
func (l *Layer) resolveSentBy(ctx context.Context, host string, port uint16, n Network) ([]netip.AddrPort, error) {
	var addrs []netip.AddrPort
	var err error
	if l.ResolveSentBy != nil {
		addrs, err = l.ResolveSentBy(ctx, host, port, n)
	} else {
		if port == 0 {
			port = n.DefaultPort()
		}
		var ips []netip.Addr
		ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		for _, ip := range ips {
			addrs = append(addrs, netip.AddrPortFrom(ip.Unmap(), port))
		}
	}
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no address for %q", host)
	}
	if err != nil {
		return nil, fmt.Errorf("transport: resolve sent-by %q: %w", host, err)
	}
	return addrs, nil
}
