package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Layer is the SIP transport layer of RFC 3261 §18: it listens, keeps the
// connection pool, sends requests and responses, and hands every received
// message to Handler.
//
// The zero value is usable; set the exported fields before the first call
// to Listen, Serve, ServePacket, SendRequest or SendResponse and do not
// change them afterwards. All methods are safe for concurrent use.
//
// Goroutines: one per listener (the accept or read loop), one per
// connection (its read loop; for WebSocket, the HTTP server's goroutine of
// the upgraded connection). Writes happen on the caller's goroutine,
// serialized per connection by a mutex and bounded by Limits.WriteTimeout.
type Layer struct {
	// Handler receives every parsed message: requests after the Via
	// processing of RFC 3261 §18.2.1 and RFC 3581 §4, responses after the
	// sent-by check of §18.1.2. It is called on the goroutine that read the
	// message (one per connection, one per UDP listener), so it must not
	// block for long; it may call SendRequest and SendResponse, but not
	// Shutdown or Close. A nil Handler drops every message.
	Handler func(Incoming)
	// Limits bound resources per peer; the zero value means the defaults.
	Limits Limits
	// TLSConfig is the server configuration of TLS and WSS listeners; it
	// must hold a certificate. The Layer clones it.
	TLSConfig *tls.Config
	// ClientTLSConfig is used for outgoing TLS and WSS connections. Nil
	// means the system roots; ServerName, when empty, is taken from
	// Dest.Host or else the destination IP address (RFC 5922 §7.3).
	ClientTLSConfig *tls.Config
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// Tap, if set, is called synchronously with every message received and
	// sent (see TapEvent). It must be fast and must never block: use
	// NewTapBuffer, whose Tap method queues into a bounded channel and
	// drops and counts when it is full. An unset tap costs nothing.
	Tap func(TapEvent)
	// Alias enables RFC 5923 connection reuse: requests sent over TCP and
	// TLS carry ";alias" in the top Via (§8.1), and a request received with
	// ";alias" makes its connection the one used for requests to the
	// address of its top Via, received IP and sent-by port (§8.2). Over TLS
	// an alias is honoured only if the peer presented a certificate that
	// verified (§9.2; TLS listeners then ask for client certificates), and
	// a request for Dest.Host reuses it only if the certificate names that
	// host (§8.2). RFC 5923 §9.3 forbids reuse of plain TCP connections by
	// virtual servers: enable Alias with TCP listeners only among trusted
	// peers.
	Alias bool
	// NoRPort disables adding ";rport" to the top Via of requests (RFC 3581
	// §3 makes it optional; it is on by default so that responses traverse
	// NATs).
	NoRPort bool
	// ResolveSentBy resolves a sent-by host name when a response must be
	// sent to it (RFC 3261 §18.2.2, RFC 3263 §5). port is 0 when the Via
	// names none. Nil means A/AAAA lookups with net.DefaultResolver on the
	// sent-by port or the default port of the network; plug the resolve
	// package in to get the SRV procedure of RFC 3263 §5.
	ResolveSentBy func(ctx context.Context, host string, port uint16, n Network) ([]netip.AddrPort, error)
	// MTU is the path MTU assumed for UDP. Zero means unknown: requests
	// larger than 1300 bytes are then sent over TCP; with an MTU set, those
	// within 200 bytes of it are (RFC 3261 §18.1.1).
	MTU int
	// WSOriginPatterns lists the Origin host patterns (path.Match syntax)
	// accepted for cross-origin WebSocket handshakes, e.g. a web phone
	// served from another host. Nil accepts only same-origin handshakes
	// and clients that send no Origin header.
	WSOriginPatterns []string

	initOnce sync.Once
	log      *slog.Logger
	done     chan struct{} // closed when shutting down

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	byAddr    map[endpoint]*listener // bound address → listener
	implicit  map[netip.Addr]*listener
	conns     map[uint64]*conn
	pool      map[endpoint]*conn
	dials     map[dialKey]*dialCall
	perIP     map[netip.Addr]int
	nConns    int
	sentBy    map[endpoint]struct{}
	routes    map[netip.Addr]netip.Addr

	wg       sync.WaitGroup
	nextID   atomic.Uint64
	stats    counters
	lastHost atomic.Pointer[hostText] // see hostString
	kept     keptSlab                 // see SendResponseKeep
}

// endpoint is a transport address on a network: the key of the connection
// pool (RFC 3261 §18: "indexed by the tuple formed from the address, port,
// and transport protocol at the far end of the connection"), of listeners
// and of the sent-by values this Layer inserts.
type endpoint struct {
	n    Network
	addr netip.AddrPort
}

func (l *Layer) init() {
	l.initOnce.Do(func() {
		l.log = l.Logger
		if l.log == nil {
			l.log = slog.New(slog.DiscardHandler)
		}
		l.done = make(chan struct{})
		l.listeners = make(map[*listener]struct{})
		l.byAddr = make(map[endpoint]*listener)
		l.implicit = make(map[netip.Addr]*listener)
		l.conns = make(map[uint64]*conn)
		l.pool = make(map[endpoint]*conn)
		l.dials = make(map[dialKey]*dialCall)
		l.perIP = make(map[netip.Addr]int)
		l.sentBy = make(map[endpoint]struct{})
		l.routes = make(map[netip.Addr]netip.Addr)
	})
}

// Log attribute keys.
const (
	logNetwork = "network"
	logLocal   = "local"
	logRemote  = "remote"
	logConnID  = "conn_id"
	logError   = "error"
)

// Listener is a socket the Layer receives on.
type Listener interface {
	// Addr returns the bound address (with the port chosen by the system
	// when 0 was asked for).
	Addr() netip.AddrPort
	// Network returns the listener's network.
	Network() Network
	// Close stops receiving on the socket. Connections it accepted stay
	// open until they go idle or the Layer shuts down.
	Close() error
}

type listener struct {
	l       *Layer
	network Network
	addr    netip.AddrPort
	udp     *net.UDPConn // UDP
	raw     *rawUDP      // UDP: raw reads and writes, or nil
	ln      net.Listener // TCP, TLS; raw TCP of WS and WSS
	srv     *http.Server // WS, WSS
	tlsConf *tls.Config  // TLS, WSS
	closed  atomic.Bool
	once    sync.Once
	err     error
}

func (ln *listener) Addr() netip.AddrPort { return ln.addr }
func (ln *listener) Network() Network     { return ln.network }

func (ln *listener) Close() error {
	ln.once.Do(func() {
		ln.closed.Store(true)
		l := ln.l
		l.mu.Lock()
		delete(l.listeners, ln)
		if l.byAddr[endpoint{ln.network, ln.addr}] == ln {
			delete(l.byAddr, endpoint{ln.network, ln.addr})
		}
		for k, v := range l.implicit {
			if v == ln {
				delete(l.implicit, k)
			}
		}
		l.mu.Unlock()
		switch {
		case ln.udp != nil:
			ln.err = ln.udp.Close()
		case ln.srv != nil:
			ln.err = ln.srv.Close()
		default:
			ln.err = ln.ln.Close()
		}
		if errors.Is(ln.err, net.ErrClosed) || errors.Is(ln.err, http.ErrServerClosed) {
			ln.err = nil
		}
	})
	return ln.err
}

// Listen opens a listener on addr ("127.0.0.1:5060", "[::1]:0",
// ":5061") for network n. WS and WSS listeners are HTTP(S) servers that
// upgrade any path to a WebSocket with the subprotocol "sip" (RFC 7118
// §4.1); TLS and WSS need Layer.TLSConfig. RFC 3261 §18.2.1: a server
// listening for UDP on a port and interface MUST also listen for TCP on it;
// call Listen for both.
func (l *Layer) Listen(ctx context.Context, n Network, addr string) (Listener, error) {
	l.init()
	var lc net.ListenConfig
	switch n {
	case UDP:
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen %s %s: %w", n, addr, err)
		}
		return l.servePacket(pc.(*net.UDPConn), false)
	case TCP, TLS, WS, WSS:
		nl, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen %s %s: %w", n, addr, err)
		}
		ln, err := l.Serve(n, nl)
		if err != nil {
			nl.Close()
		}
		return ln, err
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupported, n)
}

// ServePacket receives UDP on pc, an already bound socket (socket
// activation); it must be a *net.UDPConn. It returns at once; the Layer
// owns pc from then on and closes it on shutdown.
func (l *Layer) ServePacket(pc net.PacketConn) (Listener, error) {
	l.init()
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a *net.UDPConn", ErrUnsupported, pc)
	}
	return l.servePacket(u, false)
}

// Serve accepts connections of network n (TCP, TLS, WS or WSS) on nl, an
// already bound listener (socket activation). It returns at once; the
// Layer owns nl from then on and closes it on shutdown.
func (l *Layer) Serve(n Network, nl net.Listener) (Listener, error) {
	l.init()
	ln := &listener{l: l, network: n, ln: nl, addr: addrPortOf(nl.Addr())}
	if n.Secure() {
		if l.TLSConfig == nil {
			return nil, ErrNoTLSConfig
		}
		ln.tlsConf = l.TLSConfig.Clone()
		if l.Alias && n == TLS && ln.tlsConf.ClientAuth == tls.NoClientCert {
			// RFC 5923 §9.2: "A TLS server conformant to this
			// specification MUST ask for a client certificate". It is
			// verified after the handshake (against ClientCAs, or the
			// system roots), so that a client with a certificate we
			// cannot verify still connects, only without an alias.
			ln.tlsConf.ClientAuth = tls.RequestClientCert
		}
		if n == WSS {
			ln.tlsConf.NextProtos = []string{"http/1.1"}
		}
	}
	switch n {
	case TCP, TLS:
		if err := l.addListener(ln); err != nil {
			return nil, err
		}
		go ln.acceptLoop()
	case WS, WSS:
		l.newWSServer(ln)
		if err := l.addListener(ln); err != nil {
			return nil, err
		}
		go ln.serveHTTP()
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, n)
	}
	return ln, nil
}

func (l *Layer) servePacket(pc *net.UDPConn, implicit bool) (*listener, error) {
	ln := &listener{l: l, network: UDP, udp: pc, raw: newRawUDP(pc), addr: addrPortOf(pc.LocalAddr())}
	if err := l.addListener(ln); err != nil {
		pc.Close()
		return nil, err
	}
	go ln.readLoop()
	return ln, nil
}

// addListener registers ln and accounts for its goroutine.
func (l *Layer) addListener(ln *listener) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.listeners[ln] = struct{}{}
	l.byAddr[endpoint{ln.network, ln.addr}] = ln
	if a := ln.addr.Addr(); !a.IsUnspecified() {
		l.sentBy[endpoint{ln.network, ln.addr}] = struct{}{}
	}
	l.wg.Add(1)
	return nil
}

// acceptLoop accepts TCP and TLS connections, backing off on temporary
// errors as net/http does.
func (ln *listener) acceptLoop() {
	l := ln.l
	defer l.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.ln.Accept()
		if err != nil {
			if ln.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if !temporary(err) {
				l.log.Warn("transport: accept failed", logNetwork, ln.network, logLocal, ln.addr, logError, err)
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("transport: accept error; retrying", logNetwork, ln.network, logLocal, ln.addr, logError, err, "delay", delay)
			if !l.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		l.acceptStream(ln, nc)
	}
}

// sleep waits for d or until shutdown; it reports whether d elapsed.
func (l *Layer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// temporary reports whether an accept or read error is worth retrying.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range [...]error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// admit accounts for a new connection within the limits. inbound
// connections also count against MaxConnsPerIP.
func (l *Layer) admit(ip netip.Addr, inbound bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.nConns >= l.Limits.maxConns() {
		l.stats.limConns.Add(1)
		return ErrTooManyConns
	}
	if inbound && l.perIP[ip] >= l.Limits.maxConnsPerIP() {
		l.stats.limPerIP.Add(1)
		return ErrTooManyConns
	}
	l.nConns++
	if inbound {
		l.perIP[ip]++
	}
	l.stats.connsOpen.Add(1)
	return nil
}

func (l *Layer) release(ip netip.Addr, inbound bool) {
	l.mu.Lock()
	l.nConns--
	if inbound {
		if n := l.perIP[ip] - 1; n > 0 {
			l.perIP[ip] = n
		} else {
			delete(l.perIP, ip)
		}
	}
	l.mu.Unlock()
	l.stats.connsOpen.Add(-1)
}

// Shutdown shuts the Layer down gracefully: it closes the listeners, then
// closes each connection as soon as it is idle (no message partly read or
// being handled), and waits for every goroutine of the Layer to end. If
// ctx ends first, it closes everything, waits for the goroutines, and
// returns ctx.Err(). Later sends fail with ErrClosed.
func (l *Layer) Shutdown(ctx context.Context) error {
	l.init()
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	lns := make([]*listener, 0, len(l.listeners))
	for ln := range l.listeners {
		lns = append(lns, ln)
	}
	l.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	var err error
	poll := time.Millisecond
	for {
		if l.closeIdle() {
			break
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
			l.closeAll()
		case <-t.C:
			poll = min(2*poll, 50*time.Millisecond)
			continue
		}
		break
	}
	l.wg.Wait()
	return err
}

// Close closes every listener and connection at once and waits for the
// Layer's goroutines to end.
func (l *Layer) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Shutdown(ctx)
	return nil
}

// closeIdle closes the idle connections and reports whether none is left.
func (l *Layer) closeIdle() bool {
	l.mu.Lock()
	var idle []*conn
	left := len(l.conns)
	for _, c := range l.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosing) {
			idle = append(idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	return left == len(idle)
}

func (l *Layer) closeAll() {
	l.mu.Lock()
	all := make([]*conn, 0, len(l.conns))
	for _, c := range l.conns {
		all = append(all, c)
	}
	l.mu.Unlock()
	for _, c := range all {
		c.state.Store(stateClosing)
		c.close()
	}
}

func (l *Layer) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// addrPortOf returns the address of a net.Addr, IPv4-mapped IPv6 addresses
// unmapped so that flows compare equal however the socket reports them.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return unmap(ap)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}
