package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/internal/procs"
	"github.com/parleysip/parley/server"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var configFile, data, admin, store, logLevel, proxyMode, procsFlag string
	var listen []string
	var benchAuth, cpuProfile string
	var routes []string
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the SIP server: registrar, location service and proxy",
		Long: `Serve runs Parley's server: a registrar, a location service and an RFC
3261 §16 proxy (stateful by default, "proxy: {mode: stateless}" for
§16.11).

With no configuration it listens on UDP and TCP 127.0.0.1:5060, keeps
bindings in ./parley-data (bbolt: a 200 to a REGISTER means the binding is on
disk), serves the domains "localhost" and its listener addresses, and answers
admin requests on http://127.0.0.1:9060: /healthz and /readyz, /metrics
(open to loopback clients) and /registrations (needs admin_user and
admin_password, see "parley serve hash-password"). Registration is open
then, with a warning — nothing off this machine can reach a loopback
listener.

A configuration file (--config, YAML) names listeners, domains, a users
file of digest HA1 hashes (see "parley passwd"), the store (bolt, memory,
redis), TLS certificates, registrar limits, static routes, the proxy mode,
the admin login and TLS, and procs (CPUs used: auto, the default, runs on
one while one is enough). A listener off loopback requires a users file
unless the file says "auth: off"; an admin listener off loopback requires
admin_tls. Errors are reported with their line.

SIGINT or SIGTERM stops the server gracefully.

Exit codes: 0 stopped cleanly, 1 failed to start or stop, 2 usage or
configuration error.`,
		Example: `  parley serve
  parley serve --listen udp:127.0.0.1:5070 --data /tmp/parley
  parley serve --config /etc/parley/parley.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg *server.Config
			if configFile != "" {
				var err error
				if cfg, err = server.LoadConfig(configFile); err != nil {
					return &exitError{code: 2, err: err}
				}
			} else {
				cfg = &server.Config{}
			}
			if len(listen) > 0 {
				cfg.Listen = listen
			}
			if data != "" {
				cfg.Data = data
			}
			if admin != "" {
				cfg.Admin = admin
			}
			if store != "" {
				cfg.Store = store
			}
			if proxyMode != "" {
				cfg.Proxy.Mode = proxyMode
			}
			if procsFlag != "" {
				cfg.Procs = procsFlag
			}
			for _, r := range routes {
				match, to, ok := strings.Cut(r, "=")
				if !ok {
					return &exitError{code: 2, err: fmt.Errorf("--route %q: want MATCH=URI, e.g. '*=sip:10.0.0.5:5060'", r)}
				}
				cfg.Routes = append(cfg.Routes, server.Route{Match: match, To: to})
			}
			cfg.Defaults()
			if err := cfg.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			srv, err := server.New(cfg, log)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if benchAuth == "1" {
				// ../shared/bench: users u0…u99999, password "secret", realm
				// 127.0.0.1, MD5 (what SIPp answers).
				users := &digest.Users{}
				for i := range 100000 {
					if err := users.SetPassword(fmt.Sprintf("u%d", i), "127.0.0.1", "secret", digest.MD5); err != nil {
						return err
					}
				}
				srv.Users, srv.AuthAlgorithms = users, []digest.Algorithm{digest.MD5}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return &exitError{code: 2, err: err}
				}
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := srv.Start(ctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			stopProcs := setProcs(cfg, log)
			defer stopProcs()
			log.Info("parley serving", "listen", srv.Addrs(), "admin", srv.AdminAddr(), "domains", cfg.Domains, "store", cfg.Store, "procs", cfg.Procs)
			<-ctx.Done()
			// A second SIGINT or SIGTERM kills at once: the default
			// behaviour is back once the first one has been seen.
			stop()
			log.Info("shutting down: running transactions have up to 10 s; signal again to stop at once")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cmd.AddCommand(newHashPasswordCmd())
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file")
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "listener network:address, repeatable (default udp:127.0.0.1:5060 and tcp:127.0.0.1:5060)")
	cmd.Flags().StringVar(&data, "data", "", "directory of the bolt store (default ./parley-data)")
	cmd.Flags().StringVar(&admin, "admin", "", `admin HTTP listener (default 127.0.0.1:9060, "off" to disable)`)
	cmd.Flags().StringVar(&store, "store", "", "binding store: bolt, memory or redis")
	cmd.Flags().StringVar(&proxyMode, "proxy-mode", "", "proxy mode: stateful (default) or stateless (RFC 3261 §16.11)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&procsFlag, "procs", "", `CPUs the Go scheduler runs on: "auto" (default: 1 while the load is light, more as it needs them) or a number`)
	cmd.Flags().StringArrayVar(&routes, "route", nil, "static route MATCH=URI, repeatable: requests for domain MATCH (* for all) go to URI")
	cmd.Flags().StringVar(&benchAuth, "bench-auth", "", "benchmark mode (../shared/bench): 1 = digest users u0…u99999 with password secret")
	_ = cmd.Flags().MarkHidden("bench-auth")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) to this file until the server stops")
	return cmd
}

// setProcs applies cfg.Procs: a fixed GOMAXPROCS, or a procs.Adapter
// running until the returned stop is called (which waits for it and
// restores GOMAXPROCS).
func setProcs(cfg *server.Config, log *slog.Logger) (stop func()) {
	n, _ := cfg.ProcsValue() // validated
	if n > 0 {
		runtime.GOMAXPROCS(n)
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &procs.Adapter{OnChange: func(from, to int) {
		log.Debug("procs: GOMAXPROCS changed", "from", from, "to", to)
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// newHashPasswordCmd is `parley serve hash-password`: it reads a password
// from standard input and prints the admin_password hash for it.
func newHashPasswordCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "Print the admin_password hash of a password read from standard input",
		Long: `Hash-password reads one line from standard input and prints its
PBKDF2-SHA256 hash for the admin_password key of parley serve's
configuration (with admin_user, the login of /registrations, and of
/metrics for clients off loopback).`,
		Example: `  printf '%s' 'correct horse' | parley serve hash-password`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			h, err := server.HashAdminPassword(strings.TrimRight(line, "\r\n"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
}
