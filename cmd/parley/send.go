package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/parleysip/parley/sip"
	"github.com/spf13/cobra"
)

func newSendCmd() *cobra.Command {
	var f clientFlags
	var to string
	cmd := &cobra.Command{
		Use:   "send [flags] FILE|-",
		Short: "Send a raw SIP request from a file and print the final response",
		Long: `Send reads one SIP request from FILE (or standard input for "-"), sends it
through a client transaction and prints the final response — for testing
servers with hand-written messages.

The request is sent to --to (sip:host[:port]) if given, else to its
Request-URI (or its first loose Route). A Via with a new branch is put on
top of any Vias the file has; the transport fills in its sent-by. Use
"parley parse" first to check a message.

Exit codes: 0 a 2xx, 1 an error response, none, or a malformed file, 2 usage
error.`,
		Example: `  parley send invite.sip
  parley send --to sip:127.0.0.1:5080 -v register.sip`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			m, err := sip.Parse(data)
			var pe *sip.ParseError
			if errors.As(err, &pe) && pe.Header == string(sip.HeaderVia) {
				// A hand-written request often has no Via: give it the one
				// the stack would add and parse again.
				if nl := bytes.IndexByte(data, '\n'); nl > 0 {
					withVia := append(append(append([]byte{}, data[:nl+1]...), "Via: SIP/2.0/UDP invalid;branch=z9hG4bKparleysend\r\n"...), data[nl+1:]...)
					if m2, err2 := sip.Parse(withVia); err2 == nil {
						m, err = m2, nil
						m.Headers().RemoveTopVia()
					}
				}
			}
			if err != nil {
				if errors.As(err, &pe) {
					printParseError(cmd.ErrOrStderr(), data, pe)
				}
				return &exitError{code: 1, err: fmt.Errorf("%s: malformed message", args[0])}
			}
			req, ok := m.(*sip.Request)
			if !ok {
				return &exitError{code: 2, err: errors.New("the file holds a response; send takes a request")}
			}
			if req.Method == sip.ACK {
				return &exitError{code: 2, err: errors.New("an ACK has no transaction and no response")}
			}
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			hop := req.URI
			if rs := req.Routes(); len(rs) > 0 && rs[0].URI.Params.Has("lr") {
				hop = rs[0].URI
			}
			if to != "" {
				if hop, err = parseTarget(to); err != nil {
					return err
				}
			}
			req.PrependVia(sip.Via{Transport: s.network.String(), Host: "invalid", Params: sip.Params(";branch=" + sip.NewBranch())})
			next := &hop
			if to == "" && f.proxy != "" {
				next = nil // through the outbound proxy
			}
			res, err := s.do(cmd.Context(), req, next)
			if err != nil {
				return failure(err)
			}
			fmt.Fprint(cmd.OutOrStdout(), string(sip.AppendCanonical(nil, res)))
			if !res.StatusCode.Success() {
				return &exitError{code: 1, err: fmt.Errorf("answered %s", statusLine(res))}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "send to this sip:host[:port] instead of the Request-URI")
	return cmd
}
