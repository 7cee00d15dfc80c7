package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/proxy"
	"github.com/parleysip/parley/registrar"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Server is a running `parley serve`.
type Server struct {
	cfg    *Config
	log    *slog.Logger
	sip    *stack.Server
	store  location.Store
	redis  *redis.Client
	admin  *http.Server
	adminL net.Listener
	lns    []transport.Listener
	stop   context.CancelFunc
	wg     sync.WaitGroup
	ready  bool
	mu     sync.Mutex

	// Users, if set before Start, is the digest user store, replacing the
	// configuration's users file and turning authentication on (used by
	// benchmarks that create their users in memory).
	Users digest.UserStore
	// AuthAlgorithms, if set, are the digest algorithms offered (default
	// SHA-256 then MD5).
	AuthAlgorithms []digest.Algorithm

	// proxy routes every request that is not for the registrar; it is
	// built once the listeners' addresses (its Record-Route) are known.
	proxy atomic.Pointer[proxy.Proxy]
	// stateless, in proxy mode stateless, forwards requests and responses
	// without transactions (§16.11); built with proxy.
	stateless atomic.Pointer[proxy.Stateless]
	// ports are the listeners' ports, published as they open.
	ports   atomic.Pointer[[]uint16]
	metrics *metrics
	gruu    *location.GRUUs
	routes  []staticRoute
}

// New builds a server from cfg (after cfg.Defaults and cfg.Validate).
func New(cfg *Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: log, routes: parseRoutes(cfg.Routes)}, nil
}

func (s *Server) openStore(ctx context.Context) error {
	switch s.cfg.Store {
	case "memory":
		s.store = location.NewMemory(location.MemoryOptions{})
	case "redis":
		s.redis = redis.NewClient(&redis.Options{Addr: s.cfg.Redis})
		st, err := location.NewRedis(ctx, s.redis, location.RedisOptions{})
		if err != nil {
			return fmt.Errorf("server: redis %s: %w", s.cfg.Redis, err)
		}
		s.store = st
	default:
		if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
			return fmt.Errorf("server: data directory: %w", err)
		}
		st, err := location.OpenBolt(filepath.Join(s.cfg.Data, "location.db"), location.BoltOptions{})
		if err != nil {
			return fmt.Errorf("server: store: %w", err)
		}
		s.store = st
	}
	return nil
}

// gruuKey returns the key of the GRUUs (RFC 5627), which must outlive a
// restart and be shared by the nodes of one store: in the bolt data
// directory (gruu.key, created on first start), in Redis (set once by the
// first node), or random for the memory store.
func (s *Server) gruuKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	switch s.cfg.Store {
	case "memory":
		return fresh, nil
	case "redis":
		const k = "parley:gruu-key"
		if err := s.redis.SetNX(ctx, k, fresh, 0).Err(); err != nil {
			return nil, fmt.Errorf("server: gruu key: %w", err)
		}
		b, err := s.redis.Get(ctx, k).Bytes()
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("server: gruu key in redis: %d bytes, %v", len(b), err)
		}
		return b, nil
	}
	path := filepath.Join(s.cfg.Data, "gruu.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Written whole or not at all: a temporary file, synced, renamed.
		if err := writeFileAtomic(path, fresh); err != nil {
			return nil, fmt.Errorf("server: gruu key: %w", err)
		}
		return fresh, nil
	}
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("server: gruu key %s: want 32 bytes (%d, %v)", path, len(b), err)
	}
	return b, nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so that a crash leaves either no file or the whole one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Start opens the store, listens on every configured listener and on the
// admin address, and serves until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	if err := s.openStore(ctx); err != nil {
		return err
	}
	s.metrics = newMetrics(s)
	key, err := s.gruuKey(ctx)
	if err != nil {
		s.closeAll()
		return err
	}
	if s.gruu, err = location.NewGRUUs(key); err != nil {
		s.closeAll()
		return err
	}
	handler, err := s.handler()
	if err != nil {
		return err
	}
	s.sip = &stack.Server{Handler: handler, Logger: s.log,
		OnAck: func(ack *sip.Request, f transport.Flow) {
			if p := s.proxy.Load(); p != nil {
				p.ForwardAck(ack, f)
			}
		},
		OnResponse: func(res *sip.Response, f transport.Flow) {
			if p := s.proxy.Load(); p != nil {
				p.ForwardResponse(res, f)
			}
		},
	}
	if s.cfg.Proxy.Mode == "stateless" {
		s.hookStateless()
	}
	if s.cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.Cert, s.cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("server: tls: %w", err)
		}
		s.sip.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ls, _ := s.cfg.Listeners()
	for _, l := range ls {
		ln, err := s.sip.Listen(ctx, l.Network, l.Addr)
		if err != nil {
			s.closeAll()
			return fmt.Errorf("server: listen %s %s: %w", l.Network, l.Addr, err)
		}
		s.lns = append(s.lns, ln)
		ports := make([]uint16, len(s.lns))
		for i, l := range s.lns {
			ports[i] = l.Addr().Port()
		}
		s.ports.Store(&ports)
		s.log.Info("listening", "transport", l.Network.String(), "addr", ln.Addr().String())
	}
	// The proxy's Record-Route names the first listener (§16.6 step 4).
	first := s.lns[0]
	rr := sip.URI{Scheme: "sip", Host: first.Addr().Addr().Unmap().String(), Port: first.Addr().Port(), Params: ";lr"}
	if first.Network() != transport.UDP {
		rr.Params = sip.Params(";transport=" + strings.ToLower(first.Network().String()) + ";lr")
	}
	// Each listener's URI, for double Record-Route between transports
	// (RFC 5658): sip:IP:port for UDP, ;transport= for the others, sips:
	// for TLS (§6.2: not transport=tls).
	var listeners []sip.URI
	for _, l := range s.lns {
		u := sip.URI{Scheme: "sip", Host: l.Addr().Addr().Unmap().String(), Port: l.Addr().Port()}
		switch l.Network() {
		case transport.UDP:
		case transport.TLS:
			u.Scheme = "sips"
		default:
			u.Params = sip.Params(";transport=" + strings.ToLower(l.Network().String()))
		}
		listeners = append(listeners, u)
	}
	s.proxy.Store(&proxy.Proxy{
		Client:      &stack.Client{Server: s.sip},
		Router:      s.router(&proxy.Location{Store: s.store, Domains: s.cfg.Domains, GRUU: s.gruu}),
		RecordRoute: &rr,
		Listeners:   listeners,
		Domains:     s.cfg.Domains,
		Logger:      s.log,
		OnBranch:    s.metrics.branch,
		Policy:      s.policy,
	})
	if s.cfg.Proxy.Mode == "stateless" {
		s.stateless.Store(&proxy.Stateless{
			Transport:   s.sip.Transport(),
			Router:      s.router(&proxy.Location{Store: s.store, Domains: s.cfg.Domains, GRUU: s.gruu}),
			Resolver:    s.sip.Resolver,
			RecordRoute: &rr,
			Listeners:   listeners,
			Domains:     s.cfg.Domains,
			Logger:      s.log,
			Policy: func(r *sip.Request) sip.StatusCode {
				if !s.mayRoute(context.Background(), r) {
					return sip.StatusForbidden
				}
				return 0
			},
			OnMessage: s.statelessEvent,
		})
	}
	if !s.authOn() {
		s.log.Warn("registration and routing are open: no authentication (loopback only, or auth: off)")
	}
	sweepCtx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() { s.sweep(sweepCtx) })
	if s.cfg.Admin != "off" {
		if err := s.startAdmin(); err != nil {
			s.closeAll()
			return err
		}
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	return nil
}

// handler builds the middleware chain and the dispatch by method.
func (s *Server) handler() (stack.Handler, error) {
	reg := &registrar.Registrar{
		Store: s.store, Domains: s.cfg.Domains, Node: s.cfg.Node, RequireAuth: s.authOn(),
		MinExpires: s.cfg.Registrar.MinExpires, MaxExpires: s.cfg.Registrar.MaxExpires, DefaultExpires: s.cfg.Registrar.DefaultExpires,
		GRUU: s.gruu,
	}
	var h stack.Handler = stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		switch {
		case r.Method == sip.REGISTER && s.ours(r.URI):
			reg.ServeSIP(ctx, w, r)
		case r.Method == sip.OPTIONS && r.URI.User == "" && s.ours(r.URI) && len(r.Routes()) == 0:
			// §11.2: OPTIONS to the server itself: its capabilities.
			res := sip.NewResponse(r, sip.StatusOK)
			_ = res.Add("Allow", "REGISTER, OPTIONS")
			_ = res.Add("Supported", "path, outbound, gruu")
			_ = w.Respond(res)
		default:
			p := s.proxy.Load()
			if p == nil {
				_ = w.Respond(sip.NewResponse(r, sip.StatusServiceUnavailable))
				return
			}
			p.ServeSIP(ctx, w, r)
		}
	})
	if s.authOn() {
		users := s.Users
		if users == nil {
			u, err := digest.LoadUsers(s.cfg.Users)
			if err != nil {
				return nil, fmt.Errorf("server: users: %w", err)
			}
			users = u
		}
		// The registrar challenges with 401 (§22.1); requests the proxy
		// forwards from local users with 407 Proxy-Authenticate (§22.3: "a
		// proxy ... MUST respond ... with 407").
		reg := &digest.Server{Realm: s.cfg.Realm, Users: users, Domains: s.cfg.Domains, Algorithms: s.AuthAlgorithms,
			Methods: []sip.Method{sip.REGISTER}}
		prx := &digest.Server{Realm: s.cfg.Realm, Users: users, Domains: s.cfg.Domains, Algorithms: s.AuthAlgorithms, Proxy: true,
			Methods: []sip.Method{sip.INVITE, sip.MESSAGE, sip.SUBSCRIBE, sip.PUBLISH, sip.REFER}}
		regMW, prxMW := reg.Middleware(), prx.Middleware()
		inner := h
		viaReg, viaPrx := regMW(inner), prxMW(inner)
		h = stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			if r.Method == sip.REGISTER {
				viaReg.ServeSIP(ctx, w, r)
				return
			}
			viaPrx.ServeSIP(ctx, w, r)
		})
	}
	return stack.Chain(h, s.logging, s.metrics.middleware), nil
}

// hookStateless puts the stateless proxy (§16.11: it "takes messages, both
// requests and responses, directly from the transport layer") in front of
// the transaction layer: responses to requests it forwarded, and the
// requests it forwards, never reach a transaction.
func (s *Server) hookStateless() {
	tp := s.sip.Transport()
	toTransactions := tp.Handler
	tp.Handler = func(in transport.Incoming) {
		if sl := s.stateless.Load(); sl != nil {
			switch m := in.Message.(type) {
			case *sip.Response:
				if v := m.TopVia(); v != nil && proxy.IsStatelessBranch(v.Branch()) {
					sl.HandleIncoming(in)
					return
				}
			case *sip.Request:
				if s.statelessFor(m) {
					sl.HandleIncoming(in)
					return
				}
			}
		}
		toTransactions(in)
	}
}

// statelessFor reports whether the stateless proxy forwards r: not a
// REGISTER or OPTIONS for this server, and not a request that digest
// authentication challenges (nor its ACK or CANCEL, which must meet the
// same transaction). The choice depends only on the message, so a
// retransmission, the CANCEL and the ACK take the same path.
func (s *Server) statelessFor(r *sip.Request) bool {
	switch {
	case r.Method == sip.REGISTER && s.ours(r.URI):
		return false
	case r.Method == sip.OPTIONS && r.URI.User == "" && s.ours(r.URI) && len(r.Routes()) == 0:
		return false
	}
	if !s.authOn() {
		return true
	}
	switch r.Method {
	case sip.INVITE, sip.ACK, sip.CANCEL, sip.MESSAGE, sip.SUBSCRIBE, sip.PUBLISH, sip.REFER:
		if f := r.From(); f == nil || s.local(f.URI.Host) {
			return false
		}
	}
	return true
}

// router sends requests for this server's domains to the location
// service, and any other Request-URI — a foreign domain, or a contact
// address that merely shares our IP (a domain given as an IP address) — to
// itself.
func (s *Server) router(loc proxy.Router) proxy.Router {
	return proxy.RouterFunc(func(ctx context.Context, r *sip.Request) ([]proxy.Target, sip.StatusCode, error) {
		if d, ok := s.staticRoute(r.URI); ok {
			return []proxy.Target{{URI: r.URI, Q: 1000, Dest: &d}}, 0, nil
		}
		if s.ours(r.URI) {
			if r.URI.Port != 0 {
				// sip:bob@example.com:5060 names the same address-of-record
				// as sip:bob@example.com when the port is ours: look the AoR
				// up without it. A shallow copy is enough, it is only read.
				rc := *r
				rc.URI.Port = 0
				return loc.Targets(ctx, &rc)
			}
			return loc.Targets(ctx, r)
		}
		return []proxy.Target{{URI: r.URI, Q: 1000}}, 0, nil
	})
}

// staticRoute finds the first static route matching u (Config.Routes).
func (s *Server) staticRoute(u sip.URI) (transport.Dest, bool) {
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.match != "*" && !abnf.EqualFold(rt.match, u.Host) {
			continue
		}
		return rt.dest, true
	}
	return transport.Dest{}, false
}

// staticRoute is a parsed Config.Routes entry.
type staticRoute struct {
	match string
	dest  transport.Dest
}

// parseRoutes turns Config.Routes (validated) into destinations, once.
func parseRoutes(rs []Route) []staticRoute {
	out := make([]staticRoute, 0, len(rs))
	for _, rt := range rs {
		to, _ := sip.ParseURI(rt.To) // validated by Config.Validate
		n := transport.UDP
		if t, ok := to.Params.Get("transport"); ok {
			if tn, err := transport.ParseNetwork(t); err == nil {
				n = tn
			}
		}
		port := to.Port
		if port == 0 {
			port = n.DefaultPort()
		}
		a, _ := netip.ParseAddr(to.Host)
		out = append(out, staticRoute{match: rt.Match, dest: transport.Dest{Network: n, Addr: netip.AddrPortFrom(a, port)}})
	}
	return out
}

// ours reports whether u names this server: a served domain, and no port
// or one of the listeners' ports.
func (s *Server) ours(u sip.URI) bool {
	if !u.IsSIP() || !s.local(u.Host) {
		return false
	}
	if u.Port == 0 {
		return true
	}
	if ports := s.ports.Load(); ports != nil {
		for _, p := range *ports {
			if p == u.Port {
				return true
			}
		}
	}
	return false
}

// local reports whether host is one of the served domains.
func (s *Server) local(host string) bool {
	for _, d := range s.cfg.Domains {
		if abnf.EqualFold(d, host) {
			return true
		}
	}
	return false
}

// mayRoute applies the relay policy: a request for a local domain is
// routed (to the location service); a request within a dialog that this
// server record-routed (its top Route is ours) follows that route; any
// other request for a foreign domain only for an authenticated user.
func (s *Server) mayRoute(ctx context.Context, r *sip.Request) bool {
	if rs := r.Routes(); len(rs) > 0 {
		if p := s.proxy.Load(); p != nil && p.RecordRoute != nil && p.Ours(&rs[0].URI) && rs[0].URI.Port != 0 {
			return true
		}
		return s.authed(ctx)
	}
	if s.ours(r.URI) {
		return true
	}
	if _, ok := s.staticRoute(r.URI); ok {
		return true // a route the administrator configured
	}
	return s.authed(ctx)
}

// policy is what the proxy checks once a request is valid (§16.3). No
// open relay (DESIGN.md): a request for a foreign domain is forwarded only
// for an authenticated local user; and a user may not hand out another
// user's GRUU as Contact (RFC 5627 §6.2).
func (s *Server) policy(ctx context.Context, r *sip.Request) *sip.Response {
	reason := ""
	switch {
	case !s.mayRoute(ctx, r):
		reason = "Relaying Denied"
	case s.foreignGRUU(ctx, r):
		reason = "Contact Is Another User's GRUU"
	default:
		return nil
	}
	res := sip.NewResponse(r, sip.StatusForbidden)
	res.Reason = reason
	return res
}

// foreignGRUU implements the RECOMMENDED rejection of RFC 5627 §6.2: a
// dialog-forming request from an authenticated user whose Contact is a
// valid GRUU of this domain that belongs to another address-of-record
// ("it is RECOMMENDED that the proxy reject the request with a 403
// (Forbidden) response"), so that one user cannot have the far end's
// in-dialog requests, which follow the remote target, routed to another
// user's device. The companion MUST of §6.2 (record-route such requests
// when the GRUU is the user's own) holds because this proxy always
// record-routes. A GRUU this server did not make, or any request without
// an authenticated user, is left alone.
func (s *Server) foreignGRUU(ctx context.Context, r *sip.Request) bool {
	switch r.Method {
	case sip.INVITE, sip.SUBSCRIBE, sip.REFER: // dialog-forming (RFC 3261 §12, RFC 6665 §4.1, RFC 3515)
	default:
		return false
	}
	user, ok := digest.User(ctx)
	if !ok || s.gruu == nil || r.ToTag() != "" {
		return false
	}
	for _, c := range r.Contacts() {
		if !location.IsGRUU(&c.URI) || !s.local(c.URI.Host) {
			continue
		}
		ref, ok := s.gruu.Resolve(c.URI)
		if !ok {
			continue
		}
		owner, err := sip.ParseURI(ref.AoR)
		if err != nil || owner.UserUnescaped() != user || !s.local(owner.Host) {
			return true
		}
	}
	return false
}

func (s *Server) authed(ctx context.Context) bool {
	_, ok := digest.User(ctx)
	return ok
}

func (s *Server) authOn() bool { return s.Users != nil || s.cfg.AuthOn() }

// sweep removes expired bindings every 30 s.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := s.store.Expire(ctx, now); err != nil {
				s.log.Warn("expiry sweep failed", KeyError, err)
			} else if n > 0 {
				s.log.Debug("bindings expired", "count", n)
			}
		}
	}
}

func (s *Server) startAdmin() error {
	auth, err := newAdminAuth(s.cfg.AdminUser, s.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	// /registrations shows users: login always (DESIGN.md).
	mux.Handle("GET /registrations", auth.require(http.HandlerFunc(s.serveRegistrations)))
	// /metrics is open to loopback clients, login for the others.
	mux.Handle("GET /metrics", auth.loopbackOr(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	l, err := net.Listen("tcp", s.cfg.Admin)
	if err != nil {
		return fmt.Errorf("server: admin: %w", err)
	}
	// Config.Validate made sure an admin listener off loopback has a
	// certificate.
	if s.cfg.AdminTLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.AdminTLS.Cert, s.cfg.AdminTLS.Key)
		if err != nil {
			l.Close()
			return fmt.Errorf("server: admin tls: %w", err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.adminL = l
	s.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.wg.Go(func() { _ = s.admin.Serve(l) })
	s.log.Info("admin listening", "addr", l.Addr().String(), "tls", s.cfg.AdminTLS.Cert != "")
	return nil
}

type registrationJSON struct {
	AoR      string    `json:"aor"`
	Contact  string    `json:"contact"`
	Expires  time.Time `json:"expires"`
	Q        float64   `json:"q"`
	Received string    `json:"received,omitempty"`
	Instance string    `json:"instance,omitempty"`
	RegID    uint32    `json:"reg_id,omitempty"`
	Path     []string  `json:"path,omitempty"`
}

func (s *Server) serveRegistrations(w http.ResponseWriter, r *http.Request) {
	var out []registrationJSON
	err := s.store.Range(r.Context(), func(rec location.Record) bool {
		for _, b := range rec.Bindings {
			j := registrationJSON{AoR: rec.AoR, Contact: b.Contact.String(), Expires: b.Expires.UTC(), Q: float64(b.Q) / 1000,
				Instance: b.InstanceID, RegID: b.RegID, Path: b.Path}
			if b.Received.IsValid() {
				j.Received = b.Received.String()
			}
			out = append(out, j)
		}
		return len(out) < 100000
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AoR < out[j].AoR })
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"registrations": out})
}

// Addrs returns the SIP listener addresses, as "network:address".
func (s *Server) Addrs() []string {
	var out []string
	for _, l := range s.lns {
		out = append(out, strings.ToLower(l.Network().String())+":"+l.Addr().String())
	}
	return out
}

// AdminAddr returns the admin listener's address, or "".
func (s *Server) AdminAddr() string {
	if s.adminL == nil {
		return ""
	}
	return s.adminL.Addr().String()
}

// Store returns the location store.
func (s *Server) Store() location.Store { return s.store }

// Shutdown stops accepting, lets running transactions finish until ctx
// ends, and closes the store (bolt writes are already on disk).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.ready = false
	s.mu.Unlock()
	var err error
	if s.sip != nil {
		err = s.sip.Shutdown(ctx)
	}
	if s.admin != nil {
		_ = s.admin.Shutdown(ctx)
	}
	s.closeAll()
	return err
}

func (s *Server) closeAll() {
	if s.stop != nil {
		s.stop()
	}
	if s.sip != nil {
		_ = s.sip.Close()
	}
	s.wg.Wait()
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
}
