package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

// phoneFlags are the flags of call and answer on top of the client flags.
type phoneFlags struct {
	clientFlags
	user   string
	t1     time.Duration
	rel100 bool
	// cert and key serve tls and wss (default: self-signed).
	cert, key string
	// no100rel leaves RFC 3262 out of the UA (answer without --100rel).
	no100rel bool
	// udpAndTCP listens on TCP too, on the UDP socket's ip:port (answer
	// without an explicit --transport).
	udpAndTCP bool
	// recvInfo are the Info Packages this UA receives (RFC 6086 §5.2.3:
	// listed in Recv-Info); infoType is the INFO body type sent and
	// accepted.
	recvInfo []string
	infoType string
}

func (f *phoneFlags) register(cmd *cobra.Command, defaultLocal string) {
	f.clientFlags.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("local").DefValue = defaultLocal
	f.local = defaultLocal
	fl.Lookup("local").Usage = "local ip:port for SIP; RTP uses the same IP"
	fl.StringVar(&f.user, "user", "parley", "user part of the From and Contact")
	fl.DurationVar(&f.t1, "t1", 0, "RFC 3261 timer T1 (default 500ms); short values make tests fast")
	_ = fl.MarkHidden("t1")
	fl.StringVar(&f.cert, "cert", "", "PEM certificate for a tls or wss listener (default: a self-signed one for the --local IP)")
	fl.StringVar(&f.key, "key", "", "PEM private key of --cert")
	fl.StringArrayVar(&f.recvInfo, "recv-info", nil, "receive INFO of this Info Package (RFC 6086), listed in Recv-Info; repeatable")
	fl.StringVar(&f.infoType, "info-type", "application/dtmf-relay", "Content-Type of INFO bodies sent (--info) and accepted")
}

// phone is a running UA: its stack, the address it listens on and the IP
// its RTP uses.
type phone struct {
	ua    *ua.UA
	addr  netip.AddrPort
	ip    netip.Addr
	close func()
}

// newPhone makes a UA listening on --local over --transport; the socket is
// bound first so that the Contact is known before the UA serves.
func newPhone(cmd *cobra.Command, f *phoneFlags, onInvite func(context.Context, *ua.Session)) (*phone, error) {
	n, err := f.network()
	if err != nil {
		return nil, err
	}
	if n == transport.SCTP {
		return nil, &exitError{code: 2, err: errors.New("--transport sctp is not supported")}
	}
	local := f.local
	if local == "" {
		local = "127.0.0.1:0"
	}
	ap, err := netip.ParseAddrPort(local)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--local %q: want ip:port", local)}
	}
	if ap.Addr().IsUnspecified() {
		return nil, &exitError{code: 2, err: fmt.Errorf("--local %q: give the IP address to use in Contact and SDP", local)}
	}
	ctls, err := f.clientTLS()
	if err != nil {
		return nil, err
	}
	s := &stack.Server{Resolver: f.resolver(), ClientTLSConfig: ctls}
	if n.Secure() {
		if s.TLSConfig, err = f.serverTLS(ap.Addr()); err != nil {
			return nil, err
		}
	}
	if f.t1 > 0 {
		// T2 and T4 keep their RFC ratios to T1 (4s = 8·T1, 5s = 10·T1).
		s.Timers = transaction.Timers{T1: f.t1, T2: 8 * f.t1, T4: 10 * f.t1}
	}
	// The call ladder goes to standard output; -v adds the wire view on
	// standard error.
	lad := newLadder(cmd.OutOrStdout(), cmd.ErrOrStderr(), f.verbose)
	s.Tap = lad.tap
	var pc *net.UDPConn
	var sl net.Listener
	var addr netip.AddrPort
	if n == transport.UDP && f.udpAndTCP {
		if pc, sl, err = listenUDPAndTCP(ap); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	} else if n == transport.UDP {
		if pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	} else {
		if sl, err = net.Listen("tcp", ap.String()); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		addr = sl.Addr().(*net.TCPAddr).AddrPort()
	}
	closeListeners := func() {
		if pc != nil {
			pc.Close()
		}
		if sl != nil {
			sl.Close()
		}
	}
	host := addr.Addr().Unmap()
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: f.user, Host: host.String(), Port: addr.Port()}}
	if n != transport.UDP {
		contact.URI.Params = contact.URI.Params.Set("transport", strings.ToLower(n.String()))
	}
	from := sip.URI{Scheme: "sip", User: f.user, Host: host.String()}
	if f.from != "" {
		if from, err = sip.ParseURI(f.from); err != nil {
			closeListeners()
			return nil, &exitError{code: 2, err: fmt.Errorf("--from: %w", err)}
		}
	}
	out := cmd.OutOrStdout()
	caps := &ua.Capabilities{}
	// Legacy INFO (RFC 6086 §2) carries DTMF as application/dtmf-relay;
	// --info-type adds another body type, --recv-info the Info Packages
	// listed in Recv-Info (§5.2.3).
	caps.AddAccept("application/dtmf-relay")
	if f.infoType != "" {
		caps.AddAccept(f.infoType)
	}
	for _, pkg := range f.recvInfo {
		if !abnf.IsTokenString(pkg) {
			closeListeners()
			return nil, &exitError{code: 2, err: fmt.Errorf("--recv-info %q: an Info Package name is a token (RFC 6086 §8.2)", pkg)}
		}
		caps.AddInfoPackages(pkg)
	}
	// MaxMessageSize: receive MESSAGE bodies up to 64 KiB (RFC 3428 §7
	// leaves the limit to the UAS); what call sends over UDP is held to
	// the 1300 bytes of §8 by the commands.
	u := &ua.UA{Server: s, Timers: s.Timers, OnInvite: onInvite, Disable100rel: f.no100rel, Capabilities: caps, MaxMessageSize: 64 << 10,
		Identity: ua.Identity{From: sip.NameAddr{URI: from}, Contact: &contact},
		OnMessage: func(_ context.Context, sess *ua.Session, req *sip.Request) sip.StatusCode {
			where := "outside a dialog"
			if sess != nil {
				where = "in the call"
			}
			eventf(out, "MESSAGE %s from %s: %q", where, req.From().URI.String(), bodyText(req.Body))
			return sip.StatusOK
		},
		OnInfo: func(_ context.Context, _ *ua.Session, req *sip.Request) sip.StatusCode {
			if pkg := strings.TrimSpace(req.Get(string(sip.HeaderInfoPackage))); pkg != "" {
				eventf(out, "INFO (package %s) %s: %q", pkg, req.ContentType(), bodyText(req.Body))
				return sip.StatusOK
			}
			eventf(out, "INFO %s: %q", req.ContentType(), bodyText(req.Body))
			return sip.StatusOK
		},
	}
	u.Attach()
	if pc != nil {
		_, err = s.ServePacket(pc)
	}
	if sl != nil && err == nil {
		sn := n
		if pc != nil {
			sn = transport.TCP // the stream side of udpAndTCP
		}
		_, err = s.Serve(sn, sl)
	}
	if err != nil {
		closeListeners()
		return nil, &exitError{code: 2, err: err}
	}
	return &phone{ua: u, addr: addr, ip: host, close: func() {
		u.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		lad.flush() // what is still held
	}}, nil
}

// listenUDPAndTCP binds UDP on ap, then TCP on the same ip:port: RFC 3261
// §18.2.1, a server listening for UDP on a port and interface MUST listen
// for TCP on that same port and interface. With port 0 the UDP port the
// system picks may be taken for TCP; then both are bound again, a bounded
// number of times.
func listenUDPAndTCP(ap netip.AddrPort) (*net.UDPConn, net.Listener, error) {
	const tries = 20
	var err error
	for range tries {
		var pc *net.UDPConn
		if pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); err != nil {
			return nil, nil, err
		}
		udp := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		var sl net.Listener
		if sl, err = net.Listen("tcp", udp.String()); err == nil {
			return pc, sl, nil
		}
		pc.Close()
		if ap.Port() != 0 {
			break // the port was asked for: no other one will do
		}
	}
	if ap.Port() == 0 {
		return nil, nil, fmt.Errorf("no port free for both UDP and TCP on %s after %d tries: %w", ap.Addr(), tries, err)
	}
	return nil, nil, fmt.Errorf("TCP on the UDP port (RFC 3261 §18.2.1): %w", err)
}

// mediaCaps is what a call offers and answers: one audio stream with
// G.711 µ-law and A-law (RFC 3551) on m's port.
func mediaCaps(ip netip.Addr, m *ua.Media) sdp.Capabilities {
	return sdp.Capabilities{
		Username: "parley",
		Address:  ip,
		Ports:    func(string) int { return m.LocalPort() },
		Media: []sdp.MediaCapability{{Type: "audio", PTime: 20 * time.Millisecond, Codecs: []sdp.Codec{
			{PayloadType: ua.PCMU, Name: "PCMU", ClockRate: 8000},
			{PayloadType: ua.PCMA, Name: "PCMA", ClockRate: 8000},
		}}},
	}
}

// startMedia points m at the first active audio stream of remote, with
// the first G.711 payload type it lists; it does nothing when remote has
// none (the stream was refused or put on hold with port 0).
func startMedia(m *ua.Media, remote *sdp.Session) bool {
	if remote == nil {
		return false
	}
	for i := range remote.Media {
		md := &remote.Media[i]
		if md.Type != "audio" || md.Port == 0 {
			continue
		}
		c := remote.MediaConnection(md)
		if c == nil {
			return false
		}
		a, ok := c.Addr()
		if !ok {
			return false
		}
		for _, cd := range md.Codecs() {
			if cd.PayloadType == ua.PCMU || cd.PayloadType == ua.PCMA {
				m.Start(netip.AddrPortFrom(a, uint16(md.Port)), uint8(cd.PayloadType))
				return true
			}
		}
		return false
	}
	return false
}

// bodyText cuts a received body for printing (%q escapes the rest).
func bodyText(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// eventf prints a line of the call ladder that is not a message.
func eventf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "%s --- %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func newCallCmd() *cobra.Command {
	var f phoneFlags
	var duration, cancelAfter, hold time.Duration
	var wav, message, info, infoPkg string
	cmd := &cobra.Command{
		Use:   "call [flags] sip:user@host[:port]",
		Short: "Place an audio call: INVITE with SDP, G.711 RTP both ways, BYE",
		Long: `Call places a call to the target: INVITE with an SDP offer (PCMU and PCMA),
ACK of the 200, RTP for --duration — a 440 Hz tone, or --wav FILE played
once (8 kHz, 16-bit, mono PCM) — then BYE. It prints the call ladder (every
SIP message sent and received) and the RTP packets sent and received.

The INVITE goes to --proxy if given (as a pre-loaded Route), else to the
target, located with RFC 3263 (NAPTR, SRV, A/AAAA; a numeric host is used
as it is) over --transport. Reliable provisional responses (RFC 3262) are
PRACKed; --100rel requires them. Early media (183 with SDP) is played.
Every 2xx is ACKed; a 2xx from a second forked leg is ACKed and that leg
ended with BYE. The call ends early when the callee hangs up; Ctrl-C
cancels an unanswered call or hangs up an answered one.

Exit codes: 0 the call was answered and RTP was received (with
--cancel-after: the call was cancelled), 1 the call failed (refused, no
answer, timeout, transport failure) or no RTP arrived, 2 usage error.`,
		Example: `  parley answer --local 127.0.0.1:5070 &
  parley call --duration 3s sip:bob@127.0.0.1:5070
  parley call --wav hello.wav -v --transport tcp sip:bob@example.com
  parley call --proxy sip:127.0.0.1:5060 sip:alice@127.0.0.1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			if duration <= 0 {
				return &exitError{code: 2, err: errors.New("--duration must be positive")}
			}
			if infoPkg != "" && (info == "" || !abnf.IsTokenString(infoPkg)) {
				return &exitError{code: 2, err: fmt.Errorf("--info-package %q: needs --info, and an Info Package name is a token (RFC 6086 §8.2)", infoPkg)}
			}
			if tn, err := transport.ParseNetwork(f.transport); len(message) > ua.DefaultMaxMessageSize && (err != nil || !tn.Reliable()) {
				// RFC 3428 §8 (a transport chosen by DNS may be UDP).
				return &exitError{code: 2, err: fmt.Errorf("--message: %d bytes is too large without a --transport with congestion control, e.g. tcp (RFC 3428 §8: %d bytes at most)", len(message), ua.DefaultMaxMessageSize)}
			}
			var samples []int16
			untilPlayed := false
			if wav != "" {
				if samples, err = readWAV(wav); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--wav: %w", err)}
				}
				if !cmd.Flags().Changed("duration") {
					// Play the whole file (the call ends when it has been
					// sent); this is only a bound.
					duration = time.Duration(len(samples))*time.Second/8000 + 10*time.Second
					untilPlayed = true
				}
			}
			hop := target
			var route *sip.URI
			if f.proxy != "" {
				if hop, err = parseTarget(f.proxy); err != nil {
					return err
				}
				r := hop
				r.Params = r.Params.Set("lr", "")
				route = &r
			}
			sig, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(sig, f.timeout)
			defer cancel()
			// RFC 3263: without --transport the DNS (NAPTR, SRV) or the
			// URI's transport parameter chooses, else UDP.
			n := transport.Unknown
			if f.transport != "" {
				if n, err = f.network(); err != nil {
					return err
				}
			}
			dests, err := lookup(ctx, f.resolver(), hop, n)
			if err != nil {
				return err
			}
			if f.transport == "" {
				f.transport = strings.ToLower(dests[0].Network.String())
			}
			if !cmd.Flags().Changed("local") {
				// Contact and SDP carry the address this host uses to
				// reach the server (127.0.0.1 only for a loopback one).
				f.local = net.JoinHostPort(localHostFor("", dests[0].Addr.String()), "0")
			}
			p, err := newPhone(cmd, &f, nil)
			if err != nil {
				return err
			}
			defer p.close()
			out := cmd.OutOrStdout()
			m, err := ua.ListenMedia(p.ip)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer m.Stop()
			if samples != nil {
				m.Source = ua.Samples(samples)
			}
			var sess *ua.Session
			for i, d := range dests {
				if d.Network.String() != strings.ToUpper(f.transport) {
					continue // the UA listens on one transport
				}
				var mu sync.Mutex
				early := false
				sess = p.ua.NewCall(target, ua.CallOptions{
					Media: mediaCaps(p.ip, m), Dest: &d, Require100rel: f.rel100,
					Prepare: func(inv *sip.Request) {
						if route != nil {
							inv.PrependRoute(sip.NameAddr{URI: *route})
						}
					},
					OnProvisional: func(s *ua.Session, res *sip.Response) {
						mu.Lock()
						defer mu.Unlock()
						if !early && startMedia(m, s.RemoteSDP()) {
							early = true
							eventf(out, "early media")
						}
					},
				})
				sess.OnMedia = func(_, remote *sdp.Session) { startMedia(m, remote) }
				if cancelAfter > 0 {
					cur := sess
					t := time.AfterFunc(cancelAfter, func() {
						if cur.State() != ua.SessionConfirmed {
							eventf(out, "cancelling")
							_ = cur.Cancel(&ua.Reason{Protocol: "SIP", Cause: 487, Text: "cancelled by parley call --cancel-after"})
						}
					})
					defer t.Stop()
				}
				// RFC 3263 §4.3: on a transport failure try the next
				// target of the ordered list.
				err = sess.Invite(ctx)
				if err == nil || !errors.Is(err, stack.ErrTransport) || i == len(dests)-1 {
					break
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "parley: %s: %v; trying the next server\n", d.Addr, err)
			}
			if sess == nil {
				return &exitError{code: 2, err: fmt.Errorf("%s: no server found for --transport %s (the URI's transport parameter says otherwise?)", hop.String(), f.transport)}
			}
			if err != nil {
				if errors.Is(err, ua.ErrCanceled) && cancelAfter > 0 && sig.Err() == nil {
					eventf(out, "call cancelled")
					return nil
				}
				var se *ua.StatusError
				if errors.As(err, &se) {
					return &exitError{code: 1, err: fmt.Errorf("call refused: %d %s", se.Response.StatusCode, se.Response.Reason)}
				}
				return failure(err)
			}
			eventf(out, "call answered")
			if message != "" {
				// RFC 3428 §4: a MESSAGE within the dialog.
				mctx, mcancel := context.WithTimeout(sig, f.timeout)
				if _, err := sess.Message(mctx, "text/plain", []byte(message)); err != nil {
					eventf(out, "MESSAGE failed: %v", err)
				}
				mcancel()
			}
			if info != "" {
				// RFC 6086: within --info-package, which the callee must
				// have listed in Recv-Info (§4.2.1, else ErrInfoPackage),
				// or a legacy INFO without Info-Package (§2).
				ictx, icancel := context.WithTimeout(sig, f.timeout)
				if _, err := sess.Info(ictx, infoPkg, f.infoType, []byte(strings.ReplaceAll(info, `\n`, "\r\n"))); err != nil {
					eventf(out, "INFO failed: %v", err)
				}
				icancel()
			}
			if hold > 0 {
				go holdAndResume(sess, hold, out)
			}
			end := time.NewTimer(duration)
			defer end.Stop()
			var played <-chan struct{}
			if untilPlayed {
				played = m.Finished()
			}
			select {
			case <-played:
				time.Sleep(100 * time.Millisecond) // for the last packets to arrive
			case <-end.C:
			case <-sig.Done():
			case <-sess.Done():
				eventf(out, "the callee hung up")
			}
			if sess.State() != ua.SessionEnded {
				hctx, hcancel := context.WithTimeout(context.Background(), f.timeout)
				_ = sess.Bye(hctx, nil)
				hcancel()
			}
			sent, recv := m.Counts()
			fmt.Fprintf(out, "RTP: sent %d packets, received %d\n", sent, recv)
			if recv == 0 {
				return &exitError{code: 1, err: fmt.Errorf("no RTP received")}
			}
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:0")
	fl := cmd.Flags()
	fl.Lookup("local").DefValue = "the address that reaches the server, port chosen by the system"
	fl.Lookup("transport").DefValue, f.transport = "", ""
	fl.Lookup("transport").Usage = "transport: udp, tcp, tls, ws or wss (default: chosen by RFC 3263 — the URI's transport parameter, NAPTR and SRV records — else udp)"
	fl.DurationVar(&duration, "duration", 5*time.Second, "how long to stay in the call (with --wav: the file's length)")
	fl.StringVar(&wav, "wav", "", "play this WAV file (8 kHz, 16-bit, mono PCM) instead of a tone")
	fl.BoolVar(&f.rel100, "100rel", false, "require reliable provisional responses (Require: 100rel, RFC 3262)")
	fl.DurationVar(&cancelAfter, "cancel-after", 0, "cancel the call (CANCEL) if it is not answered within this time")
	fl.StringVar(&message, "message", "", "send this text in a MESSAGE within the call once it is answered (RFC 3428)")
	fl.StringVar(&info, "info", "", `send this body in an INFO within the call once it is answered (RFC 6086; "\n" is a line break), e.g. "Signal=5\nDuration=160"`)
	fl.StringVar(&infoPkg, "info-package", "", "send --info within this Info Package (RFC 6086 §4.2.1: the callee must list it in Recv-Info); default a legacy INFO")
	fl.DurationVar(&hold, "hold", 0, "put the call on hold (re-INVITE, sendonly) this long after the answer, and resume it as long after that")
	fl.Lookup("timeout").Usage = "give up if the call is not answered in time"
	return cmd
}

// holdAndResume puts s on hold after d and resumes it d later (RFC 3264
// §8.4 through re-INVITEs; a 491 is retried as §14.1 says).
func holdAndResume(s *ua.Session, d time.Duration, out io.Writer) {
	for i, step := range []struct {
		name string
		do   func(context.Context) error
	}{{"hold", s.Hold}, {"resume", s.Resume}} {
		select {
		case <-time.After(d):
		case <-s.Done():
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		err := step.do(ctx)
		cancel()
		if err != nil {
			eventf(out, "%s failed: %v", step.name, err)
			return
		}
		if i == 0 {
			eventf(out, "on hold")
		} else {
			eventf(out, "resumed")
		}
	}
}

func newAnswerCmd() *cobra.Command {
	var f phoneFlags
	var echo, earlyMedia bool
	var count int
	var ring, hangupAfter time.Duration
	var reject int
	var record string
	cmd := &cobra.Command{
		Use:   "answer [flags]",
		Short: "Wait for calls and answer them automatically (tone or --echo)",
		Long: `Answer listens for calls on --local and answers each INVITE. Without
--transport it listens on UDP and TCP on the same ip:port (RFC 3261
§18.2.1; with port 0 a port free for both is picked), so a call over
either arrives; with --transport it listens on that transport only.
Each INVITE gets 180 Ringing (held for --ring), or 183 with SDP and early
media (--early-media), then 200 with the SDP answer (PCMU or PCMA),
retransmitted until the ACK (§13.3.1.4; without an ACK within 64·T1 the call is ended
with BYE). It sends a G.711 tone — or with --echo sends back what it
receives — and prints the call ladder and the RTP counts when the call
ends. With --100rel, provisional responses are sent reliably (RFC 3262) to
callers that support it. It exits after --count calls (0: until
interrupted).

Exit codes: 0 done (--count calls ended, or interrupted), 1 --record could
not be written, 2 usage error.`,
		Example: `  parley answer --local 127.0.0.1:5070 --echo --count 1
  parley answer -v --transport tcp --local 127.0.0.1:5070 --ring 2s
  parley answer --early-media --100rel --count 1 --record in.wav`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 {
				return &exitError{code: 2, err: errors.New("--count must not be negative")}
			}
			if reject != 0 && (reject < 300 || reject > 699) {
				return &exitError{code: 2, err: errors.New("--reject takes a status code from 300 to 699")}
			}
			out := cmd.OutOrStdout()
			type call struct {
				s   *ua.Session
				m   *ua.Media
				rec *recorder
			}
			calls := make(chan call, 16)
			var p *phone
			ready := make(chan struct{}) // p is set
			onInvite := func(ctx context.Context, s *ua.Session) {
				<-ready
				if reject != 0 {
					_ = s.Reject(sip.StatusCode(reject))
					calls <- call{s: s}
					return
				}
				m, err := ua.ListenMedia(p.ip)
				if err != nil {
					_ = s.Reject(sip.StatusServerInternalError)
					return
				}
				m.Echo = echo
				var rec *recorder
				if record != "" {
					rec = &recorder{}
					m.Record = rec.add
				}
				s.Media = mediaCaps(p.ip, m)
				s.OnMedia = func(_, remote *sdp.Session) { startMedia(m, remote) }
				select {
				case calls <- call{s: s, m: m, rec: rec}:
				default:
					m.Stop()
					_ = s.Reject(sip.StatusBusyHere)
					return
				}
				if earlyMedia {
					err := s.Progress(ctx, sip.StatusSessionProgress, true)
					remote := s.RemoteOffer() // answered in an unreliable 183 (a preview, §13.2.1)
					if remote == nil {
						remote = s.RemoteSDP() // answered in a reliable 183 (RFC 3262 §5)
					}
					if err == nil && startMedia(m, remote) {
						eventf(out, "early media")
					}
				} else {
					_ = s.Progress(ctx, sip.StatusRinging, false)
				}
				if ring > 0 {
					select {
					case <-time.After(ring):
					case <-ctx.Done():
						return // cancelled (§9.2: the stack answers 487)
					}
				}
				if err := s.Accept(); err != nil {
					eventf(out, "answer failed: %v", err)
				}
			}
			f.no100rel = !f.rel100
			// RFC 3261 §18.2.1: listening on UDP means on TCP too; an
			// explicit --transport keeps to that one.
			f.udpAndTCP = !cmd.Flags().Changed("transport")
			p, err := newPhone(cmd, &f, onInvite)
			if err != nil {
				return err
			}
			close(ready)
			defer p.close()
			fmt.Fprintf(out, "answering calls at sip:%s@%s\n", f.user, p.addr)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			for n := 0; count == 0 || n < count; n++ {
				var c call
				select {
				case <-ctx.Done():
					return nil
				case c = <-calls:
				}
				var hang <-chan time.Time
				var hangTimer *time.Timer
				if hangupAfter > 0 {
					hangTimer = time.NewTimer(hangupAfter)
					hang = hangTimer.C
				}
				select {
				case <-c.s.Done():
				case <-hang:
					hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_ = c.s.Bye(hctx, nil)
					cancel()
				case <-ctx.Done():
					hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					if c.s.State() == ua.SessionConfirmed {
						_ = c.s.Bye(hctx, nil)
					} else {
						_ = c.s.Reject(sip.StatusTemporarilyUnavailable)
					}
					cancel()
				}
				if hangTimer != nil {
					hangTimer.Stop()
				}
				if err := c.s.Err(); err != nil {
					eventf(out, "call ended: %v", err)
					if errors.Is(err, dialog.ErrNoAck) {
						// The UA sends that BYE in the background; give it
						// time to be answered before the UA closes.
						time.Sleep(min(time.Second, 8*max(f.t1, 50*time.Millisecond)))
					}
				}
				if c.m == nil {
					continue
				}
				c.m.Stop()
				sent, recv := c.m.Counts()
				fmt.Fprintf(out, "RTP: sent %d packets, received %d\n", sent, recv)
				if c.rec != nil {
					if err := writeRecording(record, c.rec.audio()); err != nil {
						return &exitError{code: 1, err: err}
					}
				}
			}
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:5070")
	fl := cmd.Flags()
	fl.Lookup("transport").DefValue = ""
	fl.Lookup("transport").Usage = "listen on this transport only: udp, tcp, tls, ws or wss (default: udp and tcp on the same ip:port)"
	fl.BoolVar(&echo, "echo", false, "send back the RTP received instead of a tone")
	fl.IntVar(&count, "count", 0, "exit after this many calls (0: until interrupted)")
	fl.DurationVar(&ring, "ring", 0, "ring this long (180, or 183 with --early-media) before answering")
	fl.BoolVar(&earlyMedia, "early-media", false, "send 183 Session Progress with the SDP answer and start RTP before the 200")
	fl.BoolVar(&f.rel100, "100rel", false, "send provisional responses reliably (RFC 3262) to callers that support it")
	fl.DurationVar(&hangupAfter, "hangup-after", 0, "hang up (BYE) this long after a call arrives (0: wait for the caller)")
	fl.IntVar(&reject, "reject", 0, "refuse every call with this status code (e.g. 486)")
	fl.StringVar(&record, "record", "", "write the audio received in each call to this WAV file (8 kHz, 16-bit, mono)")
	_ = fl.MarkHidden("proxy")
	_ = fl.MarkHidden("timeout")
	return cmd
}

func writeRecording(name string, samples []int16) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := writeWAV(f, samples); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
