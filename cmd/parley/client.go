package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	transport string
	proxy     string
	local     string
	from      string
	timeout   time.Duration
	verbose   int
	dns       string
	ca        string
	insecure  bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.transport, "transport", "udp", "transport to the next hop: udp, tcp, tls, ws or wss")
	fl.StringVar(&f.proxy, "proxy", "", "outbound proxy URI, added as a loose Route (RFC 3261 §8.1.2), e.g. sip:proxy.example.com")
	fl.StringVar(&f.local, "local", "", "local address to send from and listen on, e.g. 127.0.0.1:5070 (default: an ephemeral port)")
	fl.StringVar(&f.from, "from", "", "From URI (default sip:parley@<local address>)")
	fl.DurationVar(&f.timeout, "timeout", 32*time.Second, "give up on a request after this long (RFC 3261 Timer F is 32s)")
	fl.CountVarP(&f.verbose, "verbose", "v", "print every message sent and received on standard error as a ladder: -v the first lines, -vv whole messages")
	fl.StringVar(&f.dns, "dns", "", "DNS server (host:port) for RFC 3263 lookups instead of /etc/resolv.conf")
	_ = fl.MarkHidden("dns")
	fl.StringVar(&f.ca, "ca", "", "PEM file of the certificate authorities to trust for tls and wss (default: the system's)")
	fl.BoolVar(&f.insecure, "insecure", false, "do not verify the TLS certificate of the server (test servers only)")
}

// resolver is the RFC 3263 resolver the flags ask for.
func (f *clientFlags) resolver() *resolve.Resolver {
	if f.dns != "" {
		return &resolve.Resolver{Servers: []string{f.dns}}
	}
	return &resolve.Resolver{}
}

// network parses --transport.
func (f *clientFlags) network() (transport.Network, error) {
	n, err := transport.ParseNetwork(f.transport)
	if err != nil || n == transport.SCTP {
		return 0, &exitError{code: 2, err: fmt.Errorf("unknown transport %q (want udp, tcp, tls, ws or wss)", f.transport)}
	}
	return n, nil
}

// session is a client ready to send: a stack.Client, the next hop, and who
// we are.
type session struct {
	flags   clientFlags
	server  *stack.Server
	client  *stack.Client
	network transport.Network
	id      ua.Identity
	stderr  io.Writer
}

func (f *clientFlags) open(cmd *cobra.Command) (*session, error) {
	n, err := f.network()
	if err != nil {
		return nil, err
	}
	s := &session{flags: *f, network: n, stderr: cmd.ErrOrStderr()}
	ctls, err := f.clientTLS()
	if err != nil {
		return nil, err
	}
	s.server = &stack.Server{Resolver: f.resolver(), ClientTLSConfig: ctls}
	if f.verbose > 0 {
		s.server.Tap = newLadder(nil, cmd.ErrOrStderr(), f.verbose).tap
	}
	host := "127.0.0.1"
	if f.local != "" {
		ln, err := s.server.Listen(cmd.Context(), n, f.local)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		host = ln.Addr().Addr().String()
		if ln.Addr().Addr().Is6() {
			host = ln.Addr().String()
			host = host[:strings.LastIndexByte(host, ':')]
		}
	}
	from := sip.URI{Scheme: "sip", User: "parley", Host: strings.Trim(host, "[]")}
	if f.from != "" {
		if from, err = sip.ParseURI(f.from); err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("--from: %w", err)}
		}
	}
	s.id = ua.Identity{From: sip.NameAddr{URI: from}}
	s.client = &stack.Client{Server: s.server}
	return s, nil
}

func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.server.Shutdown(ctx)
}

// parseTarget parses a command-line SIP URI; "host" or "user@host" get the
// sip: scheme.
func parseTarget(arg string) (sip.URI, error) {
	if !strings.Contains(arg, ":") || strings.HasPrefix(arg, "[") {
		arg = "sip:" + arg
	}
	u, err := sip.ParseURI(arg)
	if err != nil {
		return sip.URI{}, &exitError{code: 2, err: fmt.Errorf("%q: %w", arg, err)}
	}
	if !u.IsSIP() {
		return sip.URI{}, &exitError{code: 2, err: fmt.Errorf("%q is not a sip: or sips: URI", arg)}
	}
	return u, nil
}

// do sends req to hop, or when hop is nil to its next hop — the --proxy,
// else the Request-URI — over the chosen transport, resolved with RFC 3263.
func (s *session) do(ctx context.Context, req *sip.Request, next *sip.URI, opts ...stack.Option) (*sip.Response, error) {
	hop := req.URI
	if next != nil {
		hop = *next
	} else if s.flags.proxy != "" {
		p, err := parseTarget(s.flags.proxy)
		if err != nil {
			return nil, err
		}
		p.Params = p.Params.Set("lr", "")
		req.PrependRoute(sip.NameAddr{URI: p})
		hop = p
	}
	d, err := s.resolve(ctx, hop)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.flags.timeout)
	defer cancel()
	return s.client.Do(ctx, req, append(opts, stack.WithDest(d))...)
}

func (s *session) resolve(ctx context.Context, u sip.URI) (transport.Dest, error) {
	ds, err := lookup(ctx, s.server.Resolver, u, s.network)
	if err != nil {
		return transport.Dest{}, err
	}
	return ds[0], nil
}

// lookup locates the server for u with RFC 3263 over network n (a
// transport= parameter in u wins), best first.
func lookup(ctx context.Context, r *resolve.Resolver, u sip.URI, n transport.Network) ([]transport.Dest, error) {
	if t, ok := u.Params.Get("transport"); ok {
		if tn, err := transport.ParseNetwork(t); err == nil {
			n = tn
		}
	}
	q := resolve.Query{Host: u.Host, Port: u.Port, Secure: u.Secure(), Transport: n}
	if m, ok := u.Params.Get("maddr"); ok {
		q.MAddr = m
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
		// RFC 3263 §4.1/§4.2: a numeric host is used as it is, over UDP
		// unless a transport is given.
		if n == transport.Unknown {
			n = transport.UDP
			if u.Secure() {
				n = transport.TLS
			}
		}
		port := u.Port
		if port == 0 {
			port = n.DefaultPort()
		}
		return []transport.Dest{{Network: n, Addr: netip.AddrPortFrom(a, port)}}, nil
	}
	ts, err := r.Lookup(ctx, q)
	if err != nil {
		return nil, &exitError{code: 1, err: fmt.Errorf("cannot locate %s: %w", u.Host, err)}
	}
	ds := make([]transport.Dest, 0, len(ts))
	for _, t := range ts {
		ds = append(ds, transport.Dest{Network: t.Network, Addr: t.Addr, Host: t.Host})
	}
	return ds, nil
}

// failure turns a Do error into a message and exit code 1.
func failure(err error) error {
	switch {
	case errors.Is(err, stack.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &exitError{code: 1, err: fmt.Errorf("no response (timeout): %w", err)}
	case errors.Is(err, stack.ErrTransport):
		return &exitError{code: 1, err: fmt.Errorf("transport failure: %w", err)}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 1, err: err}
}

func statusLine(res *sip.Response) string {
	return fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
}
