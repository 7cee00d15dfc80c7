package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parleysip/parley/sip"
	"github.com/spf13/cobra"
)

func newParseCmd() *cobra.Command {
	var raw, stream bool
	cmd := &cobra.Command{
		Use:   "parse FILE|-",
		Short: "Parse one SIP message and print it canonicalised",
		Long: `Parse reads one SIP message from FILE (or standard input for "-"), checks it
against RFC 3261's grammar and rules, and prints it canonicalised: long
header names, one value per line, no folding, a Content-Length.

On a malformed message it prints the error with its line and byte offset,
and the response a server would send (for example 400 or 505), then exits 1.

The message is read as a UDP datagram would be (RFC 3261 §18.3: without a
Content-Length the body runs to the end). With --stream it is framed as on
TCP, where a Content-Length is mandatory.

Exit codes: 0 parsed, 1 malformed message, 2 usage or I/O error.`,
		Example: `  parley parse invite.sip
  printf 'OPTIONS sip:a@b SIP/2.0\r\n...' | parley parse -
  parley parse --raw captured.sip   # print exactly what Parley would forward`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			var m sip.Message
			if stream {
				m, err = sip.NewReader(bytes.NewReader(data), sip.Limits{}).ReadMessage()
			} else {
				m, err = sip.Parse(data)
			}
			if err != nil {
				var pe *sip.ParseError
				if errors.As(err, &pe) {
					printParseError(cmd.ErrOrStderr(), data, pe)
					return &exitError{code: 1, err: fmt.Errorf("%s: malformed message", args[0])}
				}
				return &exitError{code: 1, err: err}
			}
			var out []byte
			if raw {
				out = m.AppendTo(nil)
			} else {
				out = sip.AppendCanonical(nil, m)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print the message as Parley would forward it (untouched headers byte for byte)")
	cmd.Flags().BoolVar(&stream, "stream", false, "frame the input as a stream transport (TCP/TLS) does: Content-Length required")
	return cmd
}

// printParseError shows the error, the offending line with a caret under
// the offset, and what a server would answer.
func printParseError(w io.Writer, data []byte, pe *sip.ParseError) {
	fmt.Fprintln(w, pe.Error())
	if pe.Offset >= 0 && pe.Offset <= len(data) {
		start := bytes.LastIndexByte(data[:pe.Offset], '\n') + 1
		end := bytes.IndexByte(data[pe.Offset:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pe.Offset
		}
		line := bytes.TrimRight(data[start:end], "\r")
		fmt.Fprintf(w, "  %s\n  %*s^\n", printable(line), pe.Offset-start, "")
	}
	if pe.CanRespond() {
		fmt.Fprintf(w, "a server answers: %d %s\n", pe.Status, sip.StatusText(pe.Status))
	} else {
		fmt.Fprintln(w, "a server drops it: no response can be built")
	}
}

func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			out = append(out, '.')
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// readInput reads a message file, or standard input for "-" (at most 1 MiB).
func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	}
	return os.ReadFile(name)
}
