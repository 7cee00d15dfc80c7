package main

import (
	"fmt"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/ua"
	"github.com/spf13/cobra"
)

func newMessageCmd() *cobra.Command {
	var f clientFlags
	var contentType string
	cmd := &cobra.Command{
		Use:   "message [flags] sip:user@domain TEXT",
		Short: "Send an instant message (MESSAGE, RFC 3428)",
		Long: `Message sends TEXT in a MESSAGE request (RFC 3428) to the target and prints the
response. Over UDP the text is limited to 1300 bytes (RFC 3428 §8); use
--transport tcp for more. A MESSAGE within a call is sent by "parley call
--message".

Exit codes: 0 the message was accepted (2xx), 1 an error response or none,
2 usage error.`,
		Example: `  parley message sip:bob@127.0.0.1 "hello"
  parley message --proxy sip:proxy.example.com sip:bob@example.com "see you at 5"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			if len(args[1]) > ua.DefaultMaxMessageSize && !s.network.Reliable() {
				// RFC 3428 §8: a MESSAGE over a transport without
				// congestion control stays under 1300 bytes.
				return &exitError{code: 2, err: fmt.Errorf("a %d-byte message is too large for %s (RFC 3428 §8: %d bytes at most); use --transport tcp", len(args[1]), s.network, ua.DefaultMaxMessageSize)}
			}
			req := ua.NewRequest(sip.MESSAGE, target, s.id)
			req.SetBody(contentType, []byte(args[1]))
			res, err := s.do(cmd.Context(), req, nil)
			if err != nil {
				return failure(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), statusLine(res))
			if !res.StatusCode.Success() {
				return &exitError{code: 1, err: fmt.Errorf("message refused: %s", statusLine(res))}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&contentType, "type", "text/plain", "Content-Type of the message body")
	return cmd
}
