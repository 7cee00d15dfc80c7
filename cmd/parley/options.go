package main

import (
	"fmt"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

func newOptionsCmd() *cobra.Command {
	var f clientFlags
	var count int
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "options [flags] sip:host[:port]",
		Short: "Ping a SIP element with OPTIONS and print the response and round-trip time",
		Long: `Options sends OPTIONS requests (RFC 3261 §11) to the target and prints each
response with its round-trip time, like ping.

The request goes to --proxy if given, else to the target, located with
RFC 3263 (NAPTR, SRV, A/AAAA) over --transport.

Exit codes: 0 every request got a 2xx, 1 a request got an error response or
none (timeout, transport failure), 2 usage error.`,
		Example: `  parley options sip:127.0.0.1
  parley options --count 5 --interval 200ms sip:pbx.example.com
  parley options -v --transport tcp sip:[::1]:5060`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return &exitError{code: 2, err: fmt.Errorf("--count must be at least 1")}
			}
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			out := cmd.OutOrStdout()
			var firstErr error
			ok := 0
			for i := range count {
				if i > 0 {
					time.Sleep(interval)
				}
				req := ua.NewRequest(sip.OPTIONS, target, s.id)
				_ = req.Add("Accept", "application/sdp")
				start := time.Now()
				res, err := s.do(cmd.Context(), req, nil)
				rtt := time.Since(start)
				if err != nil {
					fmt.Fprintf(out, "%s: %v\n", target.String(), err)
					if firstErr == nil {
						firstErr = failure(err)
					}
					continue
				}
				fmt.Fprintf(out, "%s from %s: seq=%d time=%.3f ms", statusLine(res), target.String(), i+1, float64(rtt.Microseconds())/1000)
				if ua := res.Get("Server"); ua != "" {
					fmt.Fprintf(out, " server=%q", ua)
				}
				fmt.Fprintln(out)
				if res.StatusCode.Success() {
					ok++
				} else if firstErr == nil {
					firstErr = &exitError{code: 1, err: fmt.Errorf("%s answered %s", target.String(), statusLine(res))}
				}
			}
			if count > 1 {
				fmt.Fprintf(out, "%d requests, %d answered 2xx\n", count, ok)
			}
			return firstErr
		},
	}
	f.register(cmd)
	cmd.Flags().IntVarP(&count, "count", "c", 1, "number of requests to send")
	cmd.Flags().DurationVarP(&interval, "interval", "i", time.Second, "time between requests")
	return cmd
}
