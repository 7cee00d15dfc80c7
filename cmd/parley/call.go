package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	user string
	t1   time.Duration
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
	_ = fl.MarkHidden("from")
}

// phoneFor makes a Phone listening on --local over --transport, so that
// its Contact is known before it serves.
func phoneFor(cmd *cobra.Command, f *phoneFlags, echo bool, onCall func(*ua.Call)) (*ua.Phone, netip.AddrPort, func(), error) {
	n, err := f.network()
	if err != nil {
		return nil, netip.AddrPort{}, nil, err
	}
	switch n {
	case transport.UDP, transport.TCP, transport.WS:
	default:
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: fmt.Errorf("--transport %s: call and answer support udp, tcp and ws for now (tls and wss need certificates)", f.transport)}
	}
	local := f.local
	if local == "" {
		local = "127.0.0.1:0"
	}
	ap, err := netip.ParseAddrPort(local)
	if err != nil {
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: fmt.Errorf("--local %q: want ip:port", local)}
	}
	s := &stack.Server{Resolver: f.resolver()}
	if f.t1 > 0 {
		// T2 and T4 keep their RFC ratios to T1 (4s = 8·T1, 5s = 10·T1).
		s.Timers = transaction.Timers{T1: f.t1, T2: 8 * f.t1, T4: 10 * f.t1}
	}
	// The call ladder goes to standard output, -v adds the wire view on
	// standard error.
	s.Tap = newLadder(cmd.OutOrStdout(), cmd.ErrOrStderr(), f.verbose).tap
	// Bind first so that the Contact is known before the Phone serves.
	var pc *net.UDPConn
	var sl net.Listener
	var addr netip.AddrPort
	if n == transport.UDP {
		if pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); err != nil {
			return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: err}
		}
		addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	} else {
		if sl, err = net.Listen("tcp", ap.String()); err != nil {
			return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: err}
		}
		addr = sl.Addr().(*net.TCPAddr).AddrPort()
	}
	host := addr.Addr().Unmap()
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: f.user, Host: host.String(), Port: addr.Port()}}
	if n != transport.UDP {
		contact.URI.Params = contact.URI.Params.Set("transport", strings.ToLower(n.String()))
	}
	from := sip.URI{Scheme: "sip", User: f.user, Host: host.String()}
	if f.from != "" {
		if from, err = sip.ParseURI(f.from); err != nil {
			closeListeners(pc, sl)
			return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: fmt.Errorf("--from: %w", err)}
		}
	}
	p := &ua.Phone{Server: s, Client: &stack.Client{Server: s}, MediaIP: host, Echo: echo, OnCall: onCall,
		Identity: ua.Identity{From: sip.NameAddr{URI: from}, Contact: &contact}}
	p.Attach()
	if pc != nil {
		_, err = s.ServePacket(pc)
	} else {
		_, err = s.Serve(n, sl)
	}
	if err != nil {
		closeListeners(pc, sl)
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: err}
	}
	closeFn := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}
	return p, addr, closeFn, nil
}

func closeListeners(pc *net.UDPConn, sl net.Listener) {
	if pc != nil {
		pc.Close()
	}
	if sl != nil {
		sl.Close()
	}
}

func newCallCmd() *cobra.Command {
	var f phoneFlags
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "call [flags] sip:user@host[:port]",
		Short: "Place an audio call: INVITE with SDP, G.711 RTP both ways, BYE",
		Long: `Call places a call to the target: INVITE with an SDP offer (PCMU), ACK of
the 200, an RTP stream of a 440 Hz G.711 µ-law tone for --duration, then
BYE. It prints the call ladder and the RTP packets sent and received.

The INVITE goes to --proxy if given, else to the target, located with
RFC 3263 (NAPTR, SRV, A/AAAA; a numeric host is used as it is) over
--transport. The call ends early when the callee hangs up.

Exit codes: 0 the call was answered and RTP was received, 1 the call failed
(refused, no answer, timeout, transport failure) or no RTP arrived, 2 usage
error.`,
		Example: `  parley answer --local 127.0.0.1:5070 &
  parley call --duration 3s sip:bob@127.0.0.1:5070
  parley call -v --transport tcp sip:bob@example.com
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
			hop := target
			if f.proxy != "" {
				if hop, err = parseTarget(f.proxy); err != nil {
					return err
				}
			}
			p, _, closeFn, err := phoneFor(cmd, &f, false, nil)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			n, _ := f.network()
			dests, err := lookup(ctx, p.Server.Resolver, hop, n)
			if err != nil {
				return err
			}
			var call *ua.Call
			for i, d := range dests {
				// RFC 3263 §4.3: on a transport failure try the next
				// target of the ordered list.
				call, err = p.Dial(ctx, target, d)
				if err == nil || !errors.Is(err, stack.ErrTransport) || i == len(dests)-1 {
					break
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "parley: %s: %v; trying the next server\n", d.Addr, err)
			}
			if err != nil {
				return failure(err)
			}
			cancel()
			select {
			case <-time.After(duration):
				hctx, hcancel := context.WithTimeout(context.Background(), f.timeout)
				_ = call.Hangup(hctx)
				hcancel()
			case <-call.Done():
			}
			sent, recv := call.Media.Counts()
			fmt.Fprintf(cmd.OutOrStdout(), "RTP: sent %d packets, received %d\n", sent, recv)
			if recv == 0 {
				return &exitError{code: 1, err: fmt.Errorf("no RTP received")}
			}
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:0")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long to stay in the call")
	cmd.Flags().Lookup("timeout").Usage = "give up if the call is not answered in time"
	return cmd
}

func newAnswerCmd() *cobra.Command {
	var f phoneFlags
	var echo bool
	var count int
	cmd := &cobra.Command{
		Use:   "answer [flags]",
		Short: "Wait for calls and answer them automatically (tone or --echo)",
		Long: `Answer listens for calls on --local over --transport, answers each INVITE
with 180 and 200 (SDP answer, PCMU), sends a G.711 tone — or with --echo
sends back what it receives — and prints the ladder and RTP counts when the
call ends. It exits after --count calls (0: until interrupted).

Exit codes: 0 done (--count calls ended, or interrupted), 2 usage error.`,
		Example: `  parley answer --local 127.0.0.1:5070 --echo --count 1
  parley answer -v --transport tcp --local 127.0.0.1:5070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 {
				return &exitError{code: 2, err: errors.New("--count must not be negative")}
			}
			calls := make(chan *ua.Call, 16)
			_, addr, closeFn, err := phoneFor(cmd, &f, echo, func(c *ua.Call) {
				select {
				case calls <- c:
				default:
				}
			})
			if err != nil {
				return err
			}
			defer closeFn()
			fmt.Fprintf(cmd.OutOrStdout(), "answering calls at sip:%s@%s\n", f.user, addr)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			for n := 0; count == 0 || n < count; n++ {
				select {
				case <-ctx.Done():
					return nil
				case c := <-calls:
					select {
					case <-c.Done():
					case <-ctx.Done():
						hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						_ = c.Hangup(hctx)
						cancel()
					}
					sent, recv := c.Media.Counts()
					fmt.Fprintf(cmd.OutOrStdout(), "RTP: sent %d packets, received %d\n", sent, recv)
				}
			}
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:5070")
	cmd.Flags().BoolVar(&echo, "echo", false, "send back the RTP received instead of a tone")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many calls (0: until interrupted)")
	_ = cmd.Flags().MarkHidden("proxy")
	_ = cmd.Flags().MarkHidden("timeout")
	return cmd
}
