package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

// phoneFor makes a Phone on a UDP socket bound to local (ip:port; port 0
// picks one), so that its Contact is known before it serves.
func phoneFor(cmd *cobra.Command, local, user string, echo bool, onCall func(*ua.Call)) (*ua.Phone, netip.AddrPort, func(), error) {
	if local == "" {
		local = "127.0.0.1:0"
	}
	ap, err := netip.ParseAddrPort(local)
	if err != nil {
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: fmt.Errorf("--local %q: want ip:port", local)}
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: err}
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	host := addr.Addr().Unmap()
	s := &stack.Server{}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: host.String(), Port: addr.Port()}}
	w := cmd.OutOrStdout()
	p := &ua.Phone{Server: s, Client: &stack.Client{Server: s}, MediaIP: host, Echo: echo, OnCall: onCall,
		OnEvent:  func(e string) { fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05.000"), e) },
		Identity: ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: host.String()}}, Contact: &contact}}
	p.Attach()
	if _, err := s.ServePacket(conn); err != nil {
		conn.Close()
		return nil, netip.AddrPort{}, nil, &exitError{code: 2, err: err}
	}
	closeFn := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}
	return p, addr, closeFn, nil
}

func newCallCmd() *cobra.Command {
	var local, user string
	var duration, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "call [flags] sip:user@host[:port]",
		Short: "Place an audio call: INVITE with SDP, G.711 RTP tone both ways, BYE",
		Long: `Call places a call to the target over UDP: INVITE with an SDP offer (PCMU),
ACK of the 200, an RTP stream of a 440 Hz G.711 µ-law tone for --duration,
then BYE. It prints the call ladder and the RTP packets sent and received.

Exit codes: 0 the call was answered and RTP was received, 1 the call failed
or no RTP arrived, 2 usage error.`,
		Example: `  parley answer --local 127.0.0.1:5070 &
  parley call --duration 3s sip:bob@127.0.0.1:5070`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			a, err := netip.ParseAddr(target.Host)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%s: call needs a numeric host for now (DNS comes with the UA work)", target.Host)}
			}
			port := target.Port
			if port == 0 {
				port = 5060
			}
			p, _, closeFn, err := phoneFor(cmd, local, user, false, nil)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			call, err := p.Dial(ctx, target, transport.Dest{Network: transport.UDP, Addr: netip.AddrPortFrom(a, port)})
			if err != nil {
				return failure(err)
			}
			select {
			case <-time.After(duration):
				_ = call.Hangup(context.Background())
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
	cmd.Flags().StringVar(&local, "local", "127.0.0.1:0", "local ip:port for SIP (RTP uses the same IP)")
	cmd.Flags().StringVar(&user, "user", "parley", "user part of the From and Contact")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long to stay in the call")
	cmd.Flags().DurationVar(&timeout, "timeout", 32*time.Second, "give up if the call is not answered in time")
	return cmd
}

func newAnswerCmd() *cobra.Command {
	var local, user string
	var echo bool
	var count int
	cmd := &cobra.Command{
		Use:   "answer [flags]",
		Short: "Wait for calls and answer them automatically (tone or --echo)",
		Long: `Answer listens for calls on --local (UDP), answers each INVITE with 180 and
200 (SDP answer, PCMU), sends a G.711 tone — or with --echo sends back what
it receives — and prints the ladder and RTP counts when the caller hangs up.
It exits after --count calls (0: until interrupted).

Exit codes: 0 done, 2 usage error.`,
		Example: `  parley answer --local 127.0.0.1:5070 --echo --count 1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			calls := make(chan *ua.Call, 16)
			_, addr, closeFn, err := phoneFor(cmd, local, user, echo, func(c *ua.Call) { calls <- c })
			if err != nil {
				return err
			}
			defer closeFn()
			fmt.Fprintf(cmd.OutOrStdout(), "answering calls at sip:%s@%s\n", user, addr)
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
						_ = c.Hangup(context.Background())
					}
					sent, recv := c.Media.Counts()
					fmt.Fprintf(cmd.OutOrStdout(), "RTP: sent %d packets, received %d\n", sent, recv)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&local, "local", "127.0.0.1:5070", "local ip:port to listen on (UDP)")
	cmd.Flags().StringVar(&user, "user", "parley", "user part of the Contact")
	cmd.Flags().BoolVar(&echo, "echo", false, "send back the RTP received instead of a tone")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many calls (0: until interrupted)")
	return cmd
}
