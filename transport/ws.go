package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/parleysip/parley/sip"
)

// wsSubprotocol is the WebSocket subprotocol of RFC 7118 §4.1.
const wsSubprotocol = "sip"

type netConnKey struct{}

// newWSServer prepares the HTTP server of a WS or WSS listener. It speaks
// HTTP/1.1 only (the upgrade of RFC 6455 §4), and its goroutine per
// connection becomes the read loop of the upgraded connection.
func (l *Layer) newWSServer(ln *listener) {
	ln.srv = &http.Server{
		Handler:           http.HandlerFunc(ln.serveUpgrade),
		ReadHeaderTimeout: l.Limits.read(),
		IdleTimeout:       l.Limits.idle(),
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c)
		},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
}

func (ln *listener) serveHTTP() {
	defer ln.l.wg.Done()
	err := ln.srv.Serve(wsNetListener{ln})
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !ln.closed.Load() {
		ln.l.log.Warn("transport: WebSocket listener failed", logNetwork, ln.network, logLocal, ln.addr, logError, err)
	}
}

// wsNetListener applies the connection limits and, for WSS, TLS to the
// connections the HTTP server accepts. Errors go back to http.Server,
// which backs off on temporary ones.
type wsNetListener struct{ ln *listener }

func (w wsNetListener) Addr() net.Addr { return w.ln.ln.Addr() }
func (w wsNetListener) Close() error   { return w.ln.ln.Close() }

func (w wsNetListener) Accept() (net.Conn, error) {
	l := w.ln.l
	for {
		nc, err := w.ln.ln.Accept()
		if err != nil {
			return nil, err
		}
		remote := addrPortOf(nc.RemoteAddr())
		if err := l.admit(remote.Addr(), true); err != nil {
			if tc, ok := nc.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			nc.Close()
			continue
		}
		l.mu.Lock()
		closed := l.closed
		if !closed {
			l.wg.Add(1) // given back when the connection is closed
		}
		l.mu.Unlock()
		if closed {
			nc.Close()
			l.release(remote.Addr(), true)
			continue
		}
		l.stats.connsAccepted.Add(1)
		tc := &trackedConn{Conn: nc, l: l, ip: remote.Addr()}
		if w.ln.network == WSS {
			return &lazyTLSConn{Conn: tls.Server(tc, w.ln.tlsConf), l: l}, nil
		}
		return tc, nil
	}
}

// trackedConn is an accepted WS or WSS connection: closing it gives its
// admission slot back, whether the HTTP server closes it (no upgrade) or
// the Layer does (after the upgrade).
type trackedConn struct {
	net.Conn
	l        *Layer
	ip       netip.Addr
	once     sync.Once
	upgraded atomic.Bool
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.release(c.ip, true)
		if !c.upgraded.Load() {
			c.l.stats.connsClosed.Add(1)
		}
		c.l.wg.Done()
	})
	return err
}

// lazyTLSConn runs the server TLS handshake of a WSS connection on first
// use, within Limits.TLSHandshakeTimeout.
type lazyTLSConn struct {
	*tls.Conn
	l    *Layer
	once sync.Once
	err  error
}

func (c *lazyTLSConn) handshake() error {
	c.once.Do(func() {
		c.Conn.SetDeadline(deadline(c.l.Limits.tlsHandshake()))
		c.err = c.Conn.Handshake()
		if c.err != nil {
			if isTimeout(c.err) {
				c.l.stats.limTLS.Add(1)
			}
			return
		}
		// The HTTP server set a header deadline before its first read,
		// which the handshake deadline replaced: put it back.
		c.Conn.SetReadDeadline(deadline(c.l.Limits.read()))
		c.Conn.SetWriteDeadline(time.Time{})
	})
	return c.err
}

func (c *lazyTLSConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *lazyTLSConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// offersSIP reports whether a handshake offers the "sip" subprotocol.
func offersSIP(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == wsSubprotocol {
				return true
			}
		}
	}
	return false
}

// serveUpgrade upgrades an HTTP request on any path to a SIP WebSocket
// connection and runs its read loop.
func (ln *listener) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	l := ln.l
	nc, _ := r.Context().Value(netConnKey{}).(net.Conn)
	if nc == nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !offersSIP(r.Header) {
		// RFC 7118 §4.1: "The client MUST include the value "sip" in the
		// Sec-WebSocket-Protocol header in its handshake request."
		http.Error(w, "transport: WebSocket subprotocol \"sip\" required", http.StatusBadRequest)
		return
	}
	var c *conn
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{wsSubprotocol},
		OriginPatterns: l.WSOriginPatterns,
		OnPingReceived: func(context.Context, []byte) bool {
			// RFC 7118 §6: WebSocket pings keep the connection open.
			if c != nil {
				c.extendIdle(time.Now())
			}
			return true
		},
	})
	if err != nil {
		l.log.Debug("transport: WebSocket upgrade failed", logRemote, r.RemoteAddr, logError, err)
		return
	}
	if ws.Subprotocol() != wsSubprotocol {
		ws.CloseNow()
		return
	}
	c = l.newConn(ln.network, nc, true)
	c.ws = ws
	switch t := nc.(type) {
	case *lazyTLSConn:
		c.tlsConn = t.Conn
		c.verified = verifiedClient(t.Conn.ConnectionState(), ln.tlsConf.ClientCAs)
		t.Conn.NetConn().(*trackedConn).upgraded.Store(true)
	case *trackedConn:
		t.upgraded.Store(true)
	}
	if err := l.register(c, endpoint{c.network, c.remote}); err != nil {
		c.close()
		return
	}
	c.serveWS()
}

// serveWS is the read loop of a WebSocket connection: each WebSocket
// message, text or binary, is one SIP message (RFC 7118 §4.2, §5).
func (c *conn) serveWS() {
	l := c.l
	defer l.wg.Done()
	defer c.close()
	limit := l.Limits.maxMessageSize()
	c.ws.SetReadLimit(int64(limit))
	idle, readTO := l.Limits.idle(), l.Limits.read()
	var buf []byte
	for {
		c.dlmu.Lock()
		c.reading = false
		if !c.state.CompareAndSwap(stateBusy, stateIdle) && c.state.Load() == stateClosing {
			c.dlmu.Unlock()
			return
		}
		c.nc.SetReadDeadline(deadline(idle))
		c.dlmu.Unlock()

		_, rd, err := c.ws.Reader(context.Background())
		if err != nil {
			if isTimeout(err) {
				l.stats.limIdle.Add(1)
			}
			return
		}
		c.dlmu.Lock()
		c.reading = true
		c.nc.SetReadDeadline(deadline(readTO))
		c.dlmu.Unlock()
		if !c.state.CompareAndSwap(stateIdle, stateBusy) {
			return
		}
		buf, err = readAll(buf[:0], rd)
		if err != nil {
			switch {
			case isTimeout(err):
				l.stats.limRead.Add(1)
			case errors.Is(err, websocket.ErrMessageTooBig):
				l.stats.limSize.Add(1)
			}
			return
		}
		l.handleWSMessage(c, buf)
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (l *Layer) handleWSMessage(c *conn, b []byte) {
	if onlyCRLF(b) {
		// RFC 7118 §6: the CRLF keep-alive of RFC 5626 is usable over
		// WebSocket too.
		if bytes.Contains(b, []byte("\r\n\r\n")) {
			l.stats.keepAlives.Add(1)
			c.write(crlf)
		}
		return
	}
	f := c.flow()
	l.tap(Inbound, f, b)
	m, err := l.Limits.sip().Parse(b)
	if err != nil {
		l.stats.parseErrors.Add(1)
		var pe *sip.ParseError
		if errors.As(err, &pe) {
			if tooLarge(pe) {
				l.stats.limSize.Add(1)
			}
			if pe.CanRespond() {
				c.writeMsg(sip.NewResponse(pe.Request, pe.Status))
			}
		}
		l.log.Debug("transport: unparseable WebSocket message", logRemote, c.remote, logConnID, c.id, logError, err)
		return
	}
	l.receive(m, f, c, len(b))
}

// dialWS opens a WebSocket connection with the subprotocol "sip" to addr,
// with Host (and, for WSS, the TLS server name) from host.
func (l *Layer) dialWS(ctx context.Context, n Network, addr netip.AddrPort, host string) (*conn, error) {
	var (
		mu  sync.Mutex
		raw net.Conn
		tc  *tls.Conn
		cfg *tls.Config
	)
	var d net.Dialer
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", addr.String())
			if err == nil {
				mu.Lock()
				raw = c
				mu.Unlock()
			}
			return c, err
		},
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", addr.String())
			if err != nil {
				return nil, err
			}
			conf := l.clientTLS(addr, host)
			conf.NextProtos = []string{"http/1.1"}
			t := tls.Client(c, conf)
			hctx := ctx
			if to := l.Limits.tlsHandshake(); to > 0 {
				var cancel context.CancelFunc
				hctx, cancel = context.WithTimeout(ctx, to)
				defer cancel()
			}
			if err := t.HandshakeContext(hctx); err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					l.stats.limTLS.Add(1)
				}
				c.Close()
				return nil, err
			}
			mu.Lock()
			raw, tc, cfg = t, t, conf
			mu.Unlock()
			return t, nil
		},
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
		ResponseHeaderTimeout:  l.Limits.read(),
	}
	defer tr.CloseIdleConnections()
	scheme := "ws://"
	if n == WSS {
		scheme = "wss://"
	}
	hostHeader := ""
	if host != "" {
		hostHeader = host
		if addr.Port() != n.DefaultPort() {
			hostHeader = net.JoinHostPort(host, strconv.Itoa(int(addr.Port())))
		}
	}
	var c *conn
	ws, _, err := websocket.Dial(ctx, scheme+addr.String()+"/", &websocket.DialOptions{
		HTTPClient: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Host:         hostHeader,
		Subprotocols: []string{wsSubprotocol},
		OnPingReceived: func(context.Context, []byte) bool {
			if c != nil {
				c.extendIdle(time.Now())
			}
			return true
		},
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		return nil, err
	}
	if ws.Subprotocol() != wsSubprotocol {
		// RFC 7118 §4.1: "The 101 reply from the server MUST contain "sip"
		// in its corresponding Sec-WebSocket-Protocol header."
		ws.CloseNow()
		return nil, ErrSubprotocol
	}
	c = l.newConn(n, raw, false)
	c.ws = ws
	if tc != nil {
		c.tlsConn = tc
		c.hostname = cfg.ServerName
		c.verified = !cfg.InsecureSkipVerify
	}
	return c, nil
}
