package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

func newRegisterCmd() *cobra.Command {
	var f clientFlags
	var user, password, contact string
	var expires time.Duration
	var keep bool
	cmd := &cobra.Command{
		Use:   "register [flags] sip:user@domain",
		Short: "Register a contact for an address-of-record (REGISTER, RFC 3261 §10.2)",
		Long: `Register binds a contact to the address-of-record with a REGISTER to the
domain's registrar (or --proxy), answering digest challenges with --user and
--password, retrying once with the registrar's Min-Expires after a 423.

Without --keep it registers once and exits, leaving the binding in place
for --expires. With --keep it refreshes the binding halfway through each
granted lifetime until interrupted (Ctrl-C, SIGTERM), then removes it.

The contact is --contact, else sip:USER@<local address>: the --local
address, or the address this machine uses to reach the registrar.

Exit codes: 0 registered (and, with --keep, unregistered at the end), 1 the
registrar refused or did not answer, 2 usage error.`,
		Example: `  parley register --user alice --password s3cret sip:alice@127.0.0.1
  parley register --keep --expires 300s --local 127.0.0.1:5070 sip:alice@example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			aor, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			if aor.User == "" {
				return &exitError{code: 2, err: fmt.Errorf("%s: an address-of-record needs a user part", args[0])}
			}
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			registrar := sip.URI{Scheme: aor.Scheme, Host: aor.Host, Port: aor.Port}
			hop := registrar
			if f.proxy != "" {
				if hop, err = parseTarget(f.proxy); err != nil {
					return err
				}
			}
			d, err := s.resolve(cmd.Context(), hop)
			if err != nil {
				return failure(err)
			}
			var curi sip.URI
			if contact != "" {
				if curi, err = sip.ParseURI(contact); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--contact: %w", err)}
				}
			} else {
				curi = sip.URI{Scheme: "sip", User: aor.User, Host: localHostFor(f.local, d.Addr.String())}
				if f.local != "" {
					if _, p, err := net.SplitHostPort(f.local); err == nil && p != "0" {
						fmt.Sscan(p, &curi.Port)
					}
				}
			}
			if user == "" {
				user = aor.User
			}
			r := &ua.Registration{
				Client: s.client, Registrar: registrar, AoR: aor, Contact: curi,
				Expires: expires, User: user, Password: password,
				Options: []stack.Option{stack.WithDest(d)},
			}
			out := cmd.OutOrStdout()
			report := func(res *sip.Response) {
				fmt.Fprintf(out, "%s: %s registered for %v\n", statusLine(res), curi.String(), r.Granted())
			}
			if !keep {
				ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
				defer cancel()
				res, err := r.Register(ctx)
				if err != nil {
					return registrationFailure(err)
				}
				report(res)
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := r.Run(ctx, report); err != nil {
				return registrationFailure(err)
			}
			fmt.Fprintf(out, "%s unregistered\n", curi.String())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&user, "user", "", "digest user name (default: the AoR's user part)")
	cmd.Flags().StringVar(&password, "password", "", "digest password")
	cmd.Flags().StringVar(&contact, "contact", "", "contact URI to register (default sip:USER@<local address>)")
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "binding lifetime to ask for")
	cmd.Flags().BoolVar(&keep, "keep", false, "stay registered, refreshing, until interrupted; then unregister")
	return cmd
}

func registrationFailure(err error) error {
	if errors.Is(err, ua.ErrAuth) || errors.Is(err, ua.ErrRejected) {
		return &exitError{code: 1, err: err}
	}
	return failure(err)
}

// localHostFor returns the host part of local, or the local IP this
// machine uses to reach remote (a UDP "connect" sends nothing).
func localHostFor(local, remote string) string {
	if local != "" {
		if h, _, err := net.SplitHostPort(local); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			return strings.Trim(h, "[]")
		}
	}
	c, err := net.Dial("udp", remote)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	h, _, _ := net.SplitHostPort(c.LocalAddr().String())
	return h
}
