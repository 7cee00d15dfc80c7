package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/parleysip/parley/sip"
)

// Connection states, for graceful shutdown: a connection is busy from the
// first byte of a message until its handler returns.
const (
	stateIdle int32 = iota
	stateBusy
	stateClosing
)

// conn is one connection of a connection-oriented network.
type conn struct {
	l         *Layer
	id        uint64
	network   Network
	local     netip.AddrPort
	remote    netip.AddrPort
	inbound   bool
	nc        net.Conn        // what is read and written: raw TCP or *tls.Conn
	tlsConn   *tls.Conn       // TLS and WSS
	ws        *websocket.Conn // WS and WSS
	hostname  string          // outgoing TLS/WSS: the server name verified
	verified  bool            // the peer's certificate verified (TLS)
	clientCAs *x509.CertPool  // accepted TLS: roots for client certificates

	state     atomic.Int32
	lastWrite atomic.Int64 // unix nanoseconds

	wmu sync.Mutex // serializes writes

	// dlmu guards the read deadline of a WebSocket connection, which the
	// writer extends while the reader waits for a message.
	dlmu    sync.Mutex
	reading bool // a WebSocket message is being read

	closeOnce sync.Once
	closed    atomic.Bool
	keys      []endpoint // pool keys pointing at this conn; guarded by l.mu

	// unanswered counts the requests read on the connection (ACK aside)
	// that no final response has been written on it for yet; answered
	// wakes a lingering connection (see linger) when it drops to zero or
	// the connection closes.
	unanswered atomic.Int32
	answered   chan struct{}
}

func (c *conn) flow() Flow {
	return Flow{Network: c.network, Local: c.local, Remote: c.remote, ConnID: c.id}
}

// newConn builds a conn; the caller has admitted it.
func (l *Layer) newConn(n Network, nc net.Conn, inbound bool) *conn {
	c := &conn{
		l:        l,
		id:       l.nextID.Add(1),
		network:  n,
		local:    addrPortOf(nc.LocalAddr()),
		remote:   addrPortOf(nc.RemoteAddr()),
		inbound:  inbound,
		nc:       nc,
		answered: make(chan struct{}, 1),
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return c
}

// register adds c to the connection table and, under key (if valid), to
// the pool; it accounts for one goroutine of the connection.
func (l *Layer) register(c *conn, keys ...endpoint) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.conns[c.id] = c
	for _, k := range keys {
		l.addPoolLocked(c, k)
	}
	l.wg.Add(1)
	return nil
}

// addPoolLocked makes c the pooled connection for k unless an open one is
// there already.
func (l *Layer) addPoolLocked(c *conn, k endpoint) {
	if old := l.pool[k]; old != nil && old != c && !old.closed.Load() {
		return
	}
	l.pool[k] = c
	c.keys = append(c.keys, k)
}

// close closes the connection once and removes it from the tables.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.state.Store(stateClosing)
		if c.ws != nil {
			c.ws.CloseNow()
		}
		c.nc.Close()
		l := c.l
		l.mu.Lock()
		delete(l.conns, c.id)
		c.unpoolLocked()
		l.mu.Unlock()
		c.wake()
		if c.ws == nil || !c.inbound {
			// Inbound WebSocket connections give their slot back when the
			// raw connection is closed (see trackedConn).
			l.release(c.remote.Addr(), c.inbound)
		}
		l.stats.connsClosed.Add(1)
	})
}

// unpoolLocked takes c out of the pool: no new request is sent on it. The
// Layer's mu is held.
func (c *conn) unpoolLocked() {
	for _, k := range c.keys {
		if c.l.pool[k] == c {
			delete(c.l.pool, k)
		}
	}
	c.keys = nil
}

// wake wakes a lingering read loop.
func (c *conn) wake() {
	select {
	case c.answered <- struct{}{}:
	default:
	}
}

// framingLinger bounds how long a connection whose framing was lost stays
// open for the responses to the requests read on it before: 64×T1, the
// lifetime of a non-INVITE transaction (RFC 3261 §17.1.2.2).
const framingLinger = 32 * time.Second

// linger keeps a connection whose stream position is lost open for
// writing, reading nothing more, until every request read on it before
// has had its final response, for at most framingLinger or until the
// Layer shuts down. §18.2.2: the response "MUST be sent using the existing
// connection to the source of the original request that created the
// transaction, if that connection is still open" — so the REGISTER
// before the garbage of RFC 4475 §3.1.1.8 (dblreq) sent over TCP is
// answered. It leaves the pool at once: a request sent on it now could
// not read its response. A response produced later still goes out, on a
// new connection (§18.2.2).
func (c *conn) linger() {
	l := c.l
	l.mu.Lock()
	c.unpoolLocked()
	l.mu.Unlock()
	// Nothing is being read: Shutdown may close it as idle.
	c.state.CompareAndSwap(stateBusy, stateIdle)
	if c.unanswered.Load() <= 0 {
		return
	}
	t := time.NewTimer(framingLinger)
	defer t.Stop()
	for c.unanswered.Load() > 0 && !c.closed.Load() {
		select {
		case <-c.answered:
		case <-t.C:
			return
		case <-l.done:
			return
		}
	}
}

// answer records a final response written on the connection: one request
// read on it fewer awaits its answer. More finals than requests (a 2xx
// retransmitted by a UAS core, say) are not counted below zero.
func (c *conn) answer() {
	for {
		n := c.unanswered.Load()
		if n <= 0 {
			return
		}
		if c.unanswered.CompareAndSwap(n, n-1) {
			if n == 1 {
				c.wake()
			}
			return
		}
	}
}

// write sends one message (or a keep-alive) on the connection. A failed
// write closes the connection: its stream position is unknown.
func (c *conn) write(b []byte) error { return c.writeTap(b, false) }

// writeTap writes b; when msg is set, b is a SIP message that the tap sees
// just before the write, under the write lock, so that the tap's order of
// sent messages is the wire order and a reply is never tapped before the
// message it answers. A write that then fails is not reported to the tap
// (TapEvent has no field for it): the caller gets the error and the
// connection is closed.
func (c *conn) writeTap(b []byte, msg bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return ErrFlowClosed
	}
	if msg {
		c.l.tap(Outbound, c.flow(), b)
	}
	wto := c.l.Limits.write()
	var err error
	if wto > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(wto))
	}
	if c.ws != nil {
		typ := websocket.MessageText
		if !utf8.Valid(b) {
			// RFC 7118 §4.2: "If there is at least one non-UTF-8 symbol in
			// the whole SIP message ... the whole message MUST be sent
			// within a WebSocket binary message."
			typ = websocket.MessageBinary
		}
		err = c.ws.Write(context.Background(), typ, b)
	} else {
		_, err = c.nc.Write(b)
	}
	now := time.Now()
	c.lastWrite.Store(now.UnixNano())
	if err != nil {
		if isTimeout(err) {
			c.l.stats.limWrite.Add(1)
		}
		c.l.log.Debug("transport: write failed", logNetwork, c.network, logRemote, c.remote, logConnID, c.id, logError, err)
		c.close()
		return err
	}
	if c.ws != nil {
		c.extendIdle(now)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptStream admits a TCP or TLS connection and starts its read loop.
func (l *Layer) acceptStream(ln *listener, nc net.Conn) {
	remote := addrPortOf(nc.RemoteAddr())
	if err := l.admit(remote.Addr(), true); err != nil {
		// Over a limit: close only this connection (with a reset, so that
		// the peer's kernel does not keep it in TIME_WAIT on our side).
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		nc.Close()
		l.log.Debug("transport: connection refused", logNetwork, ln.network, logRemote, remote, logError, err)
		return
	}
	c := l.newConn(ln.network, nc, true)
	var keys []endpoint
	if ln.network == TLS {
		c.tlsConn = tls.Server(nc, ln.tlsConf)
		c.nc = c.tlsConn
		c.clientCAs = ln.tlsConf.ClientCAs
	} else {
		// RFC 3261 §18: "When the connection is accepted by the transport
		// layer, this index is set to the source IP address, port number,
		// and transport." TLS connections join the pool after the
		// handshake.
		keys = append(keys, endpoint{c.network, c.remote})
	}
	if err := l.register(c, keys...); err != nil {
		nc.Close()
		l.release(remote.Addr(), true)
		return
	}
	l.stats.connsAccepted.Add(1)
	go c.serveStream()
}

// serveStream is the read loop of a TCP or TLS connection.
func (c *conn) serveStream() {
	l := c.l
	defer l.wg.Done()
	defer c.close()
	if c.tlsConn != nil && c.inbound {
		if !c.serverHandshake() {
			return
		}
	}
	sr := &streamReader{c: c, idle: l.Limits.idle(), readTO: l.Limits.read(), lastRead: time.Now()}
	r := sip.NewReader(sr, l.Limits.sip())
	r.OnKeepAlive = func() {
		// RFC 5626 §4.4.1: the server "pong" to a double-CRLF "ping" is a
		// single CRLF.
		l.stats.keepAlives.Add(1)
		c.write(crlf)
	}
	for {
		// Between messages: is part of the next one buffered already?
		if sr.lastData > sr.total-int64(r.Buffered()) {
			if sr.msgStart.IsZero() {
				sr.msgStart = sr.lastDataAt
			}
		} else {
			sr.msgStart = time.Time{}
			if !c.state.CompareAndSwap(stateBusy, stateIdle) && c.state.Load() == stateClosing {
				return
			}
		}
		m, err := r.ReadMessage()
		if err != nil {
			var pe *sip.ParseError
			if errors.As(err, &pe) {
				l.stats.parseErrors.Add(1)
				if tooLarge(pe) {
					l.stats.limSize.Add(1)
				}
				l.log.Debug("transport: unparseable message", logNetwork, c.network, logRemote, c.remote, logConnID, c.id, logError, err)
				if pe.CanRespond() {
					// Answer what can be answered (RFC 3261 §8.2, §21.4.1),
					// on the connection it came on (§18.2.2).
					c.unanswered.Add(1)
					c.writeMsg(sip.NewResponse(pe.Request, pe.Status))
				}
				if pe.Framing || errors.Is(err, sip.ErrFraming) {
					// The stream position is lost (RFC 4475 §3.1.2.3,
					// §3.3.9): read no more, answer what was read.
					c.linger()
					return
				}
				continue
			}
			switch sr.timeout {
			case timeoutIdle:
				l.stats.limIdle.Add(1)
			case timeoutRead:
				l.stats.limRead.Add(1)
			}
			if errors.Is(err, sip.ErrMessageTooLarge) {
				l.stats.limSize.Add(1)
			}
			return
		}
		if l.Tap != nil {
			l.tap(Inbound, c.flow(), m.AppendTo(nil))
		}
		if req, ok := m.(*sip.Request); ok && req.Method != sip.ACK && req.TopVia() != nil {
			// Without a Via it cannot be answered (§8.2.6.2).
			c.unanswered.Add(1)
		}
		l.receive(m, c.flow(), c, m.Len())
	}
}

// tooLarge reports whether a parse error is the size limit.
func tooLarge(pe *sip.ParseError) bool { return errors.Is(pe, sip.ErrMessageTooLarge) }

var crlf = []byte("\r\n")

// serverHandshake runs the TLS handshake of an accepted connection within
// Limits.TLSHandshakeTimeout and then adds it to the pool.
func (c *conn) serverHandshake() bool {
	l := c.l
	to := l.Limits.tlsHandshake()
	c.tlsConn.SetDeadline(deadline(to))
	err := c.tlsConn.Handshake()
	if err != nil {
		if isTimeout(err) {
			l.stats.limTLS.Add(1)
		}
		l.log.Debug("transport: TLS handshake failed", logRemote, c.remote, logConnID, c.id, logError, err)
		return false
	}
	c.tlsConn.SetDeadline(time.Time{})
	c.verified = verifiedClient(c.tlsConn.ConnectionState(), c.clientCAs)
	l.mu.Lock()
	l.addPoolLocked(c, endpoint{c.network, c.remote})
	l.mu.Unlock()
	return true
}

// verifiedClient reports whether the peer of an accepted TLS connection
// presented a certificate that verifies for client authentication: by the
// handshake itself, or (when the certificate was only requested) against
// roots (nil: the system roots).
func verifiedClient(st tls.ConnectionState, roots *x509.CertPool) bool {
	if len(st.VerifiedChains) > 0 {
		return true
	}
	if len(st.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, cert := range st.PeerCertificates[1:] {
		inter.AddCert(cert)
	}
	_, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// writeMsg encodes m into a pooled buffer and writes it.
func (c *conn) writeMsg(m sip.Message) error {
	bp := getBuf()
	b := m.AppendTo(*bp)
	err := c.writeTap(b, true)
	if err == nil {
		c.l.stats.out(c.network, len(b))
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
			c.answer()
		}
	}
	*bp = b
	putBuf(bp)
	return err
}

// Why a stream read timed out.
const (
	timeoutNone = iota
	timeoutIdle
	timeoutRead
)

// streamReader sits between a connection and its sip.Reader. It sets the
// read deadline for each read: IdleTimeout from now while no message is
// under way, ReadTimeout from the arrival of the first byte of a message
// otherwise (CR and LF between messages are keep-alives, not message
// bytes). A write on the connection counts as traffic for the idle timer.
type streamReader struct {
	c            *conn
	idle, readTO time.Duration
	total        int64     // bytes delivered
	lastData     int64     // offset+1 of the last byte delivered that is not CR or LF
	lastDataAt   time.Time // when it arrived
	msgStart     time.Time // first byte of the message under way; zero between messages
	lastRead     time.Time // last byte received
	timeout      int
}

func (s *streamReader) Read(p []byte) (int, error) {
	for {
		var dl time.Time
		if !s.msgStart.IsZero() {
			if s.readTO > 0 {
				dl = s.msgStart.Add(s.readTO)
			}
		} else if s.idle > 0 {
			// Idle since the last byte received or sent.
			base := s.lastRead
			if lw := time.Unix(0, s.c.lastWrite.Load()); lw.After(base) {
				base = lw
			}
			dl = base.Add(s.idle)
			if !dl.After(time.Now()) {
				s.timeout = timeoutIdle
				return 0, os.ErrDeadlineExceeded
			}
		}
		s.c.nc.SetReadDeadline(dl)
		n, err := s.c.nc.Read(p)
		if n > 0 {
			now := time.Now()
			s.lastRead = now
			for i := n - 1; i >= 0; i-- {
				if p[i] != '\r' && p[i] != '\n' {
					s.lastData = s.total + int64(i) + 1
					s.lastDataAt = now
					if s.msgStart.IsZero() {
						s.msgStart = now
						if !s.c.state.CompareAndSwap(stateIdle, stateBusy) && s.c.state.Load() == stateClosing {
							return 0, net.ErrClosed
						}
					}
					break
				}
			}
			s.total += int64(n)
			return n, err
		}
		if err != nil && isTimeout(err) {
			if s.msgStart.IsZero() {
				continue // the loop decides whether the idle time is up
			}
			s.timeout = timeoutRead
		}
		return n, err
	}
}

// extendIdle pushes the read deadline of an idle WebSocket connection to
// IdleTimeout after now.
func (c *conn) extendIdle(now time.Time) {
	idle := c.l.Limits.idle()
	if idle <= 0 {
		return
	}
	c.dlmu.Lock()
	if !c.reading {
		c.nc.SetReadDeadline(now.Add(idle))
	}
	c.dlmu.Unlock()
}

// bufPool holds encoding buffers. Ownership: a buffer is taken by the
// function that encodes a message and given back by it once the write has
// returned; nothing keeps a reference (the tap gets a copy).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10+1024 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
