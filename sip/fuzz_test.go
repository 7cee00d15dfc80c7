package sip

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, add func(data []byte)) {
	files, _ := filepath.Glob("testdata/torture/*.dat")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
	add([]byte(inviteMsg))
	add([]byte(optionsMsg))
}

// FuzzParse checks the datagram parser's invariants on any input: errors
// are *ParseError; a response built from a partial request encodes
// consistently; a parsed message round-trips (Len = len(AppendTo), the
// encoding re-parses to an equal message and is a fixed point, the
// canonical form is a fixed point with the same meaning).
func FuzzParse(f *testing.F) {
	addSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.CanRespond() {
				res := NewResponse(pe.Request, pe.Status)
				if b := res.AppendTo(nil); len(b) != res.Len() {
					t.Fatalf("response Len %d != %d", res.Len(), len(b))
				}
			}
			return
		}
		// Tags read without decoding agree with the decoded values.
		h := m.Headers()
		if f := h.From(); f != nil && f.Tag() != h.FromTag() {
			t.Fatalf("FromTag %q, From().Tag() %q", h.FromTag(), f.Tag())
		}
		if to := h.To(); to != nil && to.Tag() != h.ToTag() {
			t.Fatalf("ToTag %q, To().Tag() %q", h.ToTag(), to.Tag())
		}
		if err := roundTrip(m); err != nil {
			t.Fatal(err)
		}
		if r, ok := m.(*Request); ok {
			res := NewResponse(r, StatusOK)
			if err := roundTrip(res); err != nil {
				t.Fatalf("response: %v", err)
			}
		}
	})
}

// FuzzParseURI checks that a parsed URI encodes to a string that parses to
// the same URI, that Len is exact, and that Equal is reflexive.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"sip:alice@atlanta.com", "sips:a:b@[::1]:5061;transport=tcp;lr?x=y&z=w",
		"tel:+1-201-555-0123;phone-context=example.com", "urn:service:sos",
		"sip:%61lice@atlanta.com;transport=TCP", "sip:user;par=u%40example.net@example.com",
		"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		enc := u.String()
		if len(enc) != u.Len() {
			t.Fatalf("%q: Len %d != %d", s, u.Len(), len(enc))
		}
		u2, err := ParseURI(enc)
		if err != nil {
			t.Fatalf("%q encodes to %q, which does not parse: %v", s, enc, err)
		}
		if u2 != u {
			t.Fatalf("%q: re-parsed %+v != %+v", s, u2, u)
		}
		if !u.Equal(&u2) {
			t.Fatalf("%q: not Equal to itself", s)
		}
	})
}

// chunkReader returns the data in chunks whose sizes cycle through sizes.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func readTrace(r io.Reader) []string {
	rd := NewReader(r, Limits{MaxMessageSize: 8192})
	pings := 0
	rd.OnKeepAlive = func() { pings++ }
	var out []string
	for i := 0; i < 100; i++ {
		m, err := rd.ReadMessage()
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				out = append(out, fmt.Sprintf("error %d %s framing=%v", pe.Status, pe.Reason, pe.Framing))
				if !pe.Framing {
					continue
				}
			} else {
				out = append(out, "io "+err.Error())
			}
			break
		}
		out = append(out, m.String())
	}
	return append(out, fmt.Sprint("pings ", pings))
}

// FuzzStreamReader checks that any split of the same bytes yields the same
// messages, errors and keep-alives.
func FuzzStreamReader(f *testing.F) {
	addSeeds(f, func(b []byte) { f.Add(append(append([]byte("\r\n\r\n"), b...), optionsMsg...), uint8(1), uint8(7)) })
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		whole := readTrace(&chunkReader{data: data, sizes: []int{len(data) + 1}})
		split := readTrace(&chunkReader{data: data, sizes: []int{int(a%64) + 1, int(b%200) + 1}})
		if fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("split changed the result:\nwhole %q\nsplit %q", whole, split)
		}
	})
}

// TestFuzzRegressions keeps the inputs the fuzzers found, by name (their
// corpus files under testdata/fuzz run as seeds too).
func TestFuzzRegressions(t *testing.T) {
	t.Run("empty quoted display name survives a To tag", func(t *testing.T) {
		// FuzzParse/32fe77710556fd2f: `""<A:0>` lost its quotes when the
		// To was re-encoded by SetToTag, and re-parsed as a bare URI.
		m, err := Parse([]byte("RE%47IST%45R A:0 SIP/2.0\nT:\"\"<A:0>\nF:<A:0>\nCAll-ID:0\nV:0/0/0 0\nCSeq:0 RE%47IST%45R"))
		if err != nil {
			t.Fatal(err)
		}
		res := NewResponse(m.(*Request), StatusOK)
		if err := roundTrip(res); err != nil {
			t.Fatal(err)
		}
		if !res.To().Quoted {
			t.Error("quoted empty display name lost")
		}
	})
	t.Run("duplicate URI parameters compare reflexively", func(t *testing.T) {
		// FuzzParseURI/94f7bf501889504f.
		for _, s := range []string{"tel:0;0;0=0", "sip:h;x;x=1"} {
			u := mustURI(t, s)
			if !u.Equal(&u) {
				t.Errorf("%s is not equal to itself", s)
			}
		}
	})
}
