package sdp

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzSDP checks that Parse never panics and that, for every input that
// parses, Len matches AppendTo, re-parsing the encoding gives an identical
// Session, and the encoding is a fixed point.
func FuzzSDP(f *testing.F) {
	for _, fx := range fixtures {
		f.Add([]byte(fx.sdp))
		f.Add([]byte(crlf(fx.sdp)))
	}
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"))
	f.Add([]byte("v=0\no=- 1 1 IN IP6 ff02::1\ns=x\nc=IN IP6 ff02::1/2\nt=0 0\nm=audio 1/2 RTP/AVP 0"))
	f.Add([]byte("v=0\no=- 1 1 X25 a/b\ns=x\nc=TN X25 a/b/c\nt=0 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned both a Session and error %v", err)
			}
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			return
		}
		checkRoundTrip(t, s)
	})
}

// checkRoundTrip verifies the encoding invariants for a parsed Session.
func checkRoundTrip(t *testing.T, s *Session) {
	t.Helper()
	enc := s.AppendTo(nil)
	if n := s.Len(); n != len(enc) {
		t.Fatalf("Len() = %d, len(AppendTo(nil)) = %d\n%q", n, len(enc), enc)
	}
	s2, err := Parse(enc)
	if err != nil {
		t.Fatalf("Parse(AppendTo(s)): %v\n%q", err, enc)
	}
	if !reflect.DeepEqual(s, s2) {
		t.Fatalf("round trip mismatch\n got %#v\nwant %#v\n%q", s2, s, enc)
	}
	if enc2 := s2.AppendTo(nil); !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not a fixed point\nfirst  %q\nsecond %q", enc, enc2)
	}
}
