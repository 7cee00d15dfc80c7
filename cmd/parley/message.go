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
response.

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
