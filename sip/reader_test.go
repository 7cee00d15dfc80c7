package sip

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const optionsMsg = "OPTIONS sip:bob@biloxi.com SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: <sip:bob@biloxi.com>\r\n" +
	"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" +
	"Call-ID: opt1@pc33.atlanta.com\r\n" +
	"CSeq: 63104 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

// readAll reads messages until the stream ends or fails.
func readAll(r *Reader) ([]string, error) {
	var out []string
	for {
		m, err := r.ReadMessage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, m.String())
	}
}

func TestReaderFraming(t *testing.T) {
	stream := "\r\n\r\n" + optionsMsg + "\r\n" + inviteMsg + "\r\n\r\n" + optionsMsg
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			pings := 0
			r := NewReader(wrap(strings.NewReader(stream)), Limits{})
			r.OnKeepAlive = func() { pings++ }
			msgs, err := readAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 3 || msgs[0] != optionsMsg || msgs[1] != inviteMsg || msgs[2] != optionsMsg {
				t.Fatalf("got %d messages: %q", len(msgs), msgs)
			}
			if pings != 2 {
				t.Errorf("keep-alive pings = %d, want 2", pings)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	noCL := strings.Replace(optionsMsg, "Content-Length: 0\r\n", "", 1)
	tests := []struct {
		name    string
		stream  string
		limits  Limits
		framing bool
		nOK     int // messages before the error
	}{
		{"missing Content-Length", optionsMsg + noCL, Limits{}, true, 1},
		{"negative Content-Length", strings.Replace(optionsMsg, "Content-Length: 0", "Content-Length: -5", 1), Limits{}, true, 0},
		{"conflicting Content-Length", strings.Replace(optionsMsg, "Content-Length: 0\r\n", "Content-Length: 0\r\nl: 3\r\n", 1), Limits{}, true, 0},
		{"oversized Content-Length", strings.Replace(optionsMsg, "Content-Length: 0", "Content-Length: 99999999", 1), Limits{}, true, 0},
		{"endless headers", "OPTIONS sip:a@b SIP/2.0\r\n" + strings.Repeat("X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 3000), Limits{MaxMessageSize: 8192}, true, 0},
		{"bad message, good framing", strings.Replace(optionsMsg, "CSeq: 63104 OPTIONS", "CSeq: 1 INVITE", 1) + optionsMsg, Limits{}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.stream), tt.limits)
			for i := 0; i < tt.nOK; i++ {
				if _, err := r.ReadMessage(); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			_, err := r.ReadMessage()
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.Framing != tt.framing {
				t.Errorf("Framing = %v, want %v (%v)", pe.Framing, tt.framing, err)
			}
			_, err2 := r.ReadMessage()
			if tt.framing {
				if err2 != err {
					t.Errorf("framing error not sticky: then %v", err2)
				}
			} else if err2 != nil {
				t.Errorf("reader not usable after a non-framing error: %v", err2)
			}
		})
	}
}

func TestReaderTruncated(t *testing.T) {
	r := NewReader(strings.NewReader(optionsMsg[:40]), Limits{})
	if _, err := r.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated stream: %v, want io.ErrUnexpectedEOF", err)
	}
	r = NewReader(strings.NewReader(""), Limits{})
	if _, err := r.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	body := strings.Replace(optionsMsg, "Content-Length: 0", "Content-Length: 10", 1) + "12345"
	r = NewReader(strings.NewReader(body), Limits{})
	if _, err := r.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestReaderBoundedMemory feeds an endless header section and checks that
// the reader gives up at the limit instead of buffering without bound.
func TestReaderBoundedMemory(t *testing.T) {
	endless := io.MultiReader(strings.NewReader("OPTIONS sip:a@b SIP/2.0\r\n"), &repeatReader{line: []byte("X: y\r\n"), n: 1 << 20})
	r := NewReader(endless, Limits{MaxMessageSize: 4096})
	_, err := r.ReadMessage()
	var pe *ParseError
	if !errors.As(err, &pe) || !pe.Framing {
		t.Fatalf("got %v, want a framing error", err)
	}
	if !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrFraming) {
		t.Errorf("%v does not unwrap to ErrMessageTooLarge and ErrFraming", err)
	}
	if cap(r.buf) > 8192 {
		t.Errorf("buffer grew to %d bytes with a 4 KiB limit", cap(r.buf))
	}
}

type repeatReader struct {
	line []byte
	n    int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.line), nil
}

func TestReaderBodyWithCRLFs(t *testing.T) {
	body := "\r\n\r\nbody\r\n\r\n"
	msg := strings.Replace(optionsMsg, "Content-Length: 0", "Content-Length: 12", 1) + body
	r := NewReader(bytes.NewReader([]byte(msg+optionsMsg)), Limits{})
	m, err := r.ReadMessage()
	if err != nil || string(m.Payload()) != body {
		t.Fatalf("body %q, %v", m.Payload(), err)
	}
	if _, err := r.ReadMessage(); err != nil {
		t.Fatalf("second message: %v", err)
	}
}
