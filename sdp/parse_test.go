package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, s string) *Session {
	t.Helper()
	sess, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return sess
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Session
	}{
		{
			name: "rfc8866-example",
			in:   rfcExample,
			want: &Session{
				Origin: Origin{Username: "jdoe", SessionID: 3724394400, SessionVersion: 3724394405,
					NetType: "IN", AddrType: "IP4", Address: "198.51.100.1"},
				Name:       "Call to John Smith",
				Info:       "SDP Offer #1",
				URI:        "http://www.jdoe.example.com/home.html",
				Emails:     []string{"Jane Doe <jane@jdoe.example.com>"},
				Phones:     []string{"+1 617 555-6011"},
				Connection: &Connection{NetType: "IN", AddrType: "IP4", Address: "198.51.100.1"},
				Times:      []Timing{{}},
				Media: []Media{
					{Type: "audio", Port: 49170, Proto: "RTP/AVP", Formats: []string{"0"}},
					{Type: "audio", Port: 49180, Proto: "RTP/AVP", Formats: []string{"0"}},
					{Type: "video", Port: 51372, Proto: "RTP/AVP", Formats: []string{"99"},
						Connections: []Connection{{NetType: "IN", AddrType: "IP6", Address: "2001:db8::2"}},
						Attributes:  []Attribute{{Key: "rtpmap", Value: "99 h263-1998/90000", HasValue: true}}},
				},
			},
		},
		{
			name: "ipv6",
			in:   ipv6Session,
			want: &Session{
				Origin: Origin{Username: "jdoe", SessionID: 3724395000, SessionVersion: 3724395001,
					NetType: "IN", AddrType: "IP6", Address: "2001:db8::1"},
				Name:       "-",
				Connection: &Connection{NetType: "IN", AddrType: "IP6", Address: "2001:db8::1"},
				Times:      []Timing{{}},
				Attributes: []Attribute{{Key: "inactive"}},
				Media: []Media{
					{Type: "audio", Port: 49170, Proto: "RTP/AVP", Formats: []string{"0"},
						Attributes: []Attribute{{Key: "sendrecv"}}},
					{Type: "audio", Port: 49180, Proto: "RTP/AVP", Formats: []string{"0"}},
					{Type: "video", Port: 51372, Proto: "RTP/AVP", Formats: []string{"99"},
						Attributes: []Attribute{{Key: "rtpmap", Value: "99 h263-1998/90000", HasValue: true}}},
				},
			},
		},
		{
			name: "sip-offer",
			in:   sipOffer,
			want: &Session{
				Origin: Origin{Username: "alice", SessionID: 2890844526, SessionVersion: 2890844526,
					NetType: "IN", AddrType: "IP4", Address: "192.0.2.10"},
				Name:       " ",
				Connection: &Connection{NetType: "IN", AddrType: "IP4", Address: "192.0.2.10"},
				Times:      []Timing{{}},
				Media: []Media{{
					Type: "audio", Port: 49170, Proto: "RTP/AVP", Formats: []string{"0", "8", "101"},
					Attributes: []Attribute{
						{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true},
						{Key: "rtpmap", Value: "8 PCMA/8000", HasValue: true},
						{Key: "rtpmap", Value: "101 telephone-event/8000", HasValue: true},
						{Key: "fmtp", Value: "101 0-16", HasValue: true},
						{Key: "ptime", Value: "20", HasValue: true},
						{Key: "sendrecv"},
					},
				}},
			},
		},
		{
			name: "multicast",
			in:   multicast,
			want: &Session{
				Origin: Origin{Username: "-", SessionID: 3724394400, SessionVersion: 3724394400,
					NetType: "IN", AddrType: "IP4", Address: "198.51.100.1"},
				Name:       "Layered video",
				Connection: &Connection{NetType: "IN", AddrType: "IP4", Address: "233.252.0.1", TTL: 127, NumAddrs: 3},
				Times: []Timing{{Start: 3724394400, Stop: 3754123200,
					Repeats: []string{"604800 3600 0 90000"}}},
				ZoneAdjust: "3730928400 -1h 3749680800 0",
				Media: []Media{
					{Type: "video", Port: 49170, NumPorts: 2, Proto: "RTP/AVP", Formats: []string{"31"}},
					{Type: "video", Port: 51372, Proto: "RTP/AVP", Formats: []string{"31"},
						Connections: []Connection{{NetType: "IN", AddrType: "IP6", Address: "ff00::db8:0:101", NumAddrs: 3}}},
					{Type: "audio", Port: 49200, Proto: "RTP/AVP", Formats: []string{"0"},
						Connections: []Connection{{NetType: "IN", AddrType: "IP4", Address: "233.252.0.9", TTL: 0}}},
				},
			},
		},
		{
			name: "everything",
			in:   everything,
			want: &Session{
				Origin:     Origin{Username: "-", NetType: "IN", AddrType: "IP4", Address: "192.0.2.1"},
				Name:       "All lines",
				Info:       "Information",
				URI:        "https://example.com/session",
				Emails:     []string{"j.doe@example.com (Jane Doe)", "ops@example.com"},
				Phones:     []string{"+1 617 555-6011", "+44 20 7946 0000"},
				Connection: &Connection{NetType: "IN", AddrType: "IP4", Address: "192.0.2.1"},
				Bandwidths: []Bandwidth{{"CT", 2000}, {"X-YZ", 128}},
				Times: []Timing{
					{Start: 3724394400, Stop: 3724398000, Repeats: []string{"7d 1h 0 25h", "604800 3600 0"}},
					{Start: 3724484400},
				},
				ZoneAdjust: "3730928400 -1h",
				Key:        "prompt",
				Attributes: []Attribute{
					{Key: "recvonly"},
					{Key: "charset", Value: "UTF-8", HasValue: true},
					{Key: "x-empty", HasValue: true},
				},
				Media: []Media{
					{
						Type: "audio", Port: 0, Proto: "RTP/AVP", Formats: []string{"0"},
						Info: "Rejected stream",
						Connections: []Connection{
							{NetType: "IN", AddrType: "IP4", Address: "192.0.2.2"},
							{NetType: "IN", AddrType: "IP4", Address: "192.0.2.3"},
						},
						Bandwidths: []Bandwidth{{"AS", 80}, {"RS", 0}},
						Key:        "clear:secret",
						Attributes: []Attribute{
							{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true},
							{Key: "candidate", Value: "1 1 UDP 2130706431 192.0.2.2 5000 typ host", HasValue: true},
						},
					},
					{Type: "text", Port: 5010, Proto: "RTP/AVP", Formats: []string{"98"},
						Attributes: []Attribute{{Key: "rtpmap", Value: "98 t140/1000", HasValue: true}}},
				},
			},
		},
	}
	for _, tt := range tests {
		for _, ending := range []string{"CRLF", "LF"} {
			t.Run(tt.name+"/"+ending, func(t *testing.T) {
				in := tt.in
				if ending == "CRLF" {
					in = crlf(in)
				}
				got := mustParse(t, in)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Parse mismatch\n got %#v\nwant %#v", got, tt.want)
				}
			})
		}
	}
}

func TestParseMissingFinalNewline(t *testing.T) {
	in := strings.TrimSuffix(crlf(sipOffer), "\r\n")
	got := mustParse(t, in)
	want := mustParse(t, crlf(sipOffer))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse without final CRLF = %#v, want %#v", got, want)
	}
}

func TestRoundTripFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			in := crlf(f.sdp)
			s := mustParse(t, in)
			enc := s.AppendTo(nil)
			if string(enc) != in {
				t.Errorf("AppendTo = %q, want %q", enc, in)
			}
			if n := s.Len(); n != len(enc) {
				t.Errorf("Len = %d, want %d", n, len(enc))
			}
			if str := s.String(); str != in {
				t.Errorf("String = %q, want %q", str, in)
			}
			again, err := Parse(enc)
			if err != nil {
				t.Fatalf("Parse(AppendTo): %v", err)
			}
			if !reflect.DeepEqual(again, s) {
				t.Errorf("round trip mismatch\n got %#v\nwant %#v", again, s)
			}
			// AppendTo appends after existing content.
			prefix := []byte("prefix")
			if got := s.AppendTo(prefix); string(got) != "prefix"+in {
				t.Errorf("AppendTo(prefix) = %q", got)
			}
		})
	}
}

// TestCanonicalEncoding checks that non-canonical but valid input is
// re-encoded in canonical form.
func TestCanonicalEncoding(t *testing.T) {
	in := "v=0\no=- 007 0010 IN IP4 192.0.2.1\ns=x\nt=0 0\nm=audio 0049170 RTP/AVP 0\nc=IN IP4 192.0.2.1\nb=AS:0064\n"
	want := "v=0\r\no=- 7 10 IN IP4 192.0.2.1\r\ns=x\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\n"
	s := mustParse(t, in)
	if got := s.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n" // lines 1-3
	const ok = head + "c=IN IP4 192.0.2.1\nt=0 0\n"     // lines 1-5
	tests := []struct {
		name   string
		in     string
		line   int
		reason string // substring of Reason
	}{
		{"empty input", "", 1, "empty"},
		{"bad version", "v=1\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n", 1, "unsupported version"},
		{"non-numeric version", "v=x\n", 1, "invalid version"},
		{"first line not v", "o=- 1 1 IN IP4 192.0.2.1\n", 1, "want v="},
		{"missing o", "v=0\ns=-\nt=0 0\n", 2, "missing o="},
		{"missing s", "v=0\no=- 1 1 IN IP4 192.0.2.1\nt=0 0\n", 3, "missing s="},
		{"missing t before m", head + "c=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\n", 5, "missing t="},
		{"missing t at end", head + "c=IN IP4 192.0.2.1\n", 5, "missing t="},
		{"missing o and s at end", "v=0\n", 2, "missing o="},
		{"out of order c after t", head + "t=0 0\nc=IN IP4 192.0.2.1\n", 5, "out of order"},
		{"out of order i after u", head + "u=http://x\ni=info\nt=0 0\n", 5, "out of order"},
		{"out of order media b before c", ok + "m=audio 1 RTP/AVP 0\nb=AS:1\nc=IN IP4 192.0.2.1\n", 8, "out of order"},
		{"out of order media a before i", ok + "m=audio 1 RTP/AVP 0\na=x\ni=y\n", 8, "out of order"},
		{"a before t", head + "c=IN IP4 192.0.2.1\na=x\nt=0 0\n", 5, "missing t="},
		{"duplicate s", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\ns=-\nt=0 0\n", 4, "more than one s="},
		{"duplicate session c", head + "c=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2\nt=0 0\n", 5, "more than one c="},
		{"duplicate media i", ok + "m=audio 1 RTP/AVP 0\ni=a\ni=b\n", 8, "more than one i="},
		{"r without t", head + "r=7d 1h 0\nt=0 0\n", 4, "does not follow a t="},
		{"r after z", ok + "z=3730928400 -1h\nr=7d 1h 0\n", 7, "out of order"},
		{"e in media", ok + "m=audio 1 RTP/AVP 0\ne=x@example.com\n", 7, "not allowed in a media"},
		{"missing c", head + "t=0 0\nm=audio 1 RTP/AVP 0\n", 5, "missing c="},
		{"missing c in second media", head + "t=0 0\nm=audio 1 RTP/AVP 0\nc=IN IP4 192.0.2.1\nm=video 2 RTP/AVP 31\na=x\n", 7, "missing c="},
		{"bad port", ok + "m=audio 70000 RTP/AVP 0\n", 6, "invalid port"},
		{"non-numeric port", ok + "m=audio abc RTP/AVP 0\n", 6, "invalid port"},
		{"negative port", ok + "m=audio -1 RTP/AVP 0\n", 6, "invalid port"},
		{"zero port count", ok + "m=audio 1/0 RTP/AVP 0\n", 6, "number of ports"},
		{"no formats", ok + "m=audio 1 RTP/AVP\n", 6, "no media formats"},
		{"trailing space in m", ok + "m=audio 1 RTP/AVP 0 \n", 6, "invalid media format"},
		{"double space in m", ok + "m=audio  1 RTP/AVP 0\n", 6, "invalid port"},
		{"bad proto", ok + "m=audio 1 RTP//AVP 0\n", 6, "transport protocol"},
		{"non-numeric session id", "v=0\no=- abc 1 IN IP4 192.0.2.1\n", 2, "session id"},
		{"non-numeric session version", "v=0\no=- 1 1x IN IP4 192.0.2.1\n", 2, "session version"},
		{"session id overflow", "v=0\no=- 18446744073709551616 1 IN IP4 192.0.2.1\n", 2, "session id"},
		{"short origin", "v=0\no=- 1 1 IN IP4\n", 2, "6 fields"},
		{"long origin", "v=0\no=- 1 1 IN IP4 192.0.2.1 x\n", 2, "6 fields"},
		{"non-numeric bandwidth", head + "b=AS:fast\nt=0 0\n", 4, "invalid bandwidth"},
		{"bandwidth without colon", head + "b=AS\nt=0 0\n", 4, "<bwtype>:<bandwidth>"},
		{"non-numeric time", head + "t=now 0\n", 4, "start time"},
		{"leading zero time", head + "t=0 0123\n", 4, "stop time"},
		{"one time", head + "t=0\n", 4, "<start-time> <stop-time>"},
		{"bad repeat", head + "t=0 0\nr=0 1h 0\n", 5, "invalid r="},
		{"short repeat", head + "t=0 0\nr=7d 1h\n", 5, "invalid r="},
		{"bad zone", head + "t=0 0\nz=1 -1h\n", 5, "invalid z="},
		{"unknown type letter", head + "x=foo\nt=0 0\n", 4, "unknown line type 'x'"},
		{"upper-case type letter", "V=0\n", 1, "unknown line type 'V'"},
		{"unknown type in media", ok + "m=audio 1 RTP/AVP 0\ny=1\n", 7, "unknown line type"},
		{"space before =", "v =0\n", 1, "whitespace before '='"},
		{"space after =", "v=0\no= - 1 1 IN IP4 192.0.2.1\n", 2, "whitespace after '='"},
		{"space after = in a", ok + "a= sendrecv\n", 6, "whitespace after '='"},
		{"tab before =", head + "t\t=0 0\n", 4, "whitespace before '='"},
		{"leading whitespace", "v=0\n o=- 1 1 IN IP4 192.0.2.1\n", 2, "before the type letter"},
		{"no =", "v=0\no\n", 2, "malformed"},
		{"empty line", "v=0\n\no=- 1 1 IN IP4 192.0.2.1\n", 2, "empty line"},
		{"empty i", head + "i=\nt=0 0\n", 4, "empty i="},
		{"bad attribute name", ok + "a=foo bar\n", 6, "invalid attribute name"},
		{"empty attribute name", ok + "a=:x\n", 6, "invalid attribute name"},
		{"empty attribute", ok + "a=\n", 6, "invalid attribute name"},
		{"NUL byte", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=a\x00b\n", 3, "NUL"},
		{"bare CR", "v=0\ro=- 1 1 IN IP4 192.0.2.1\n", 1, "carriage return"},
		{"multicast without TTL", head + "c=IN IP4 233.252.0.1\nt=0 0\n", 4, "no TTL"},
		{"TTL too large", head + "c=IN IP4 233.252.0.1/256\nt=0 0\n", 4, "invalid TTL"},
		{"TTL leading zero", head + "c=IN IP4 233.252.0.1/07\nt=0 0\n", 4, "invalid TTL"},
		{"zero address count", head + "c=IN IP4 233.252.0.1/1/0\nt=0 0\n", 4, "number of addresses"},
		{"too many slashes", head + "c=IN IP4 233.252.0.1/1/2/3\nt=0 0\n", 4, "number of addresses"},
		{"unicast with TTL", head + "c=IN IP4 192.0.2.1/127\nt=0 0\n", 4, "not IPv4 multicast"},
		{"IPv6 unicast with count", head + "c=IN IP6 2001:db8::1/2\nt=0 0\n", 4, "not IPv6 multicast"},
		{"IPv6 multicast with TTL", head + "c=IN IP6 ff00::1/127/2\nt=0 0\n", 4, "number of addresses"},
		{"short c", head + "c=IN IP4\nt=0 0\n", 4, "<nettype> <addrtype>"},
		{"bad URI", head + "u=http://a b\nt=0 0\n", 4, "invalid URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %#v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a Session with error %v", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if pe.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			if want := lineOffset(tt.in, tt.line); pe.Offset != want {
				t.Errorf("Offset = %d, want %d (%v)", pe.Offset, want, err)
			}
			if !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", pe.Reason, tt.reason)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "sdp: ") {
				t.Errorf("Error() = %q, want prefix \"sdp: \"", msg)
			}
		})
	}
}

// lineOffset returns the byte offset of 1-based line n of s, or len(s) if s
// has fewer lines.
func lineOffset(s string, n int) int {
	off := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s[off:], '\n')
		if j < 0 {
			return len(s)
		}
		off += j + 1
	}
	return off
}

func TestParseErrorString(t *testing.T) {
	err := &ParseError{Line: 7, Offset: 42, Reason: "bad"}
	if got, want := err.Error(), "sdp: line 7: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParseAcceptsUnknownAttributes checks that attributes the package does
// not interpret are kept verbatim, including odd but legal values.
func TestParseAcceptsUnknownAttributes(t *testing.T) {
	in := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"a=X-Vendor-Thing:a:b: c \t\xff\r\nm=audio 1 RTP/AVP 0\r\na=ice-ufrag:F7gI\r\n"
	s := mustParse(t, in)
	want := []Attribute{{Key: "X-Vendor-Thing", Value: "a:b: c \t\xff", HasValue: true}}
	if !reflect.DeepEqual(s.Attributes, want) {
		t.Errorf("Attributes = %#v, want %#v", s.Attributes, want)
	}
	if got := s.String(); got != in {
		t.Errorf("String = %q, want %q", got, in)
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		session Direction
		media   []Direction // effective direction of each medium
	}{
		{"rfc8866 inheritance", ipv6Session, Inactive, []Direction{SendRecv, Inactive, Inactive}},
		{"default sendrecv", rfcExample, SendRecv, []Direction{SendRecv, SendRecv, SendRecv}},
		{"media only", multiMedia, SendRecv, []Direction{SendOnly, RecvOnly, Inactive}},
		{"session recvonly", everything, RecvOnly, []Direction{RecvOnly, RecvOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.in)
			if got := s.Direction(); got != tt.session {
				t.Errorf("Session.Direction = %v, want %v", got, tt.session)
			}
			if len(s.Media) != len(tt.media) {
				t.Fatalf("%d media, want %d", len(s.Media), len(tt.media))
			}
			for i := range s.Media {
				if got := s.MediaDirection(&s.Media[i]); got != tt.media[i] {
					t.Errorf("MediaDirection(media %d) = %v, want %v", i, got, tt.media[i])
				}
			}
		})
	}
}

func TestMediaDirectionExplicit(t *testing.T) {
	s := mustParse(t, ipv6Session)
	if d, ok := s.Media[0].Direction(); !ok || d != SendRecv {
		t.Errorf("Media[0].Direction = %v, %v; want sendrecv, true", d, ok)
	}
	if d, ok := s.Media[1].Direction(); ok {
		t.Errorf("Media[1].Direction = %v, true; want none", d)
	}
}

func TestSetDirection(t *testing.T) {
	tests := []struct {
		name  string
		attrs []Attribute
		d     Direction
		want  []Attribute
	}{
		{"append", nil, SendOnly, []Attribute{{Key: "sendonly"}}},
		{"replace in place",
			[]Attribute{{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true}, {Key: "sendrecv"}, {Key: "ptime", Value: "20", HasValue: true}},
			Inactive,
			[]Attribute{{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true}, {Key: "inactive"}, {Key: "ptime", Value: "20", HasValue: true}}},
		{"remove duplicates",
			[]Attribute{{Key: "recvonly"}, {Key: "x"}, {Key: "sendonly"}, {Key: "inactive"}},
			SendRecv,
			[]Attribute{{Key: "sendrecv"}, {Key: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Media{Attributes: slicesClone(tt.attrs)}
			m.SetDirection(tt.d)
			if !reflect.DeepEqual(m.Attributes, tt.want) {
				t.Errorf("Media attributes = %#v, want %#v", m.Attributes, tt.want)
			}
			if d, ok := m.Direction(); !ok || d != tt.d {
				t.Errorf("Media.Direction = %v, %v; want %v, true", d, ok, tt.d)
			}
			s := &Session{Attributes: slicesClone(tt.attrs)}
			s.SetDirection(tt.d)
			if !reflect.DeepEqual(s.Attributes, tt.want) {
				t.Errorf("Session attributes = %#v, want %#v", s.Attributes, tt.want)
			}
			if d := s.Direction(); d != tt.d {
				t.Errorf("Session.Direction = %v, want %v", d, tt.d)
			}
		})
	}
}

func slicesClone(a []Attribute) []Attribute {
	if a == nil {
		return nil
	}
	return append([]Attribute(nil), a...)
}

func TestSetDirectionPanicsOnInvalid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("SetDirection(Direction(9)) did not panic")
		}
	}()
	var m Media
	m.SetDirection(Direction(9))
}

func TestDirectionString(t *testing.T) {
	tests := []struct {
		d    Direction
		want string
	}{
		{SendRecv, "sendrecv"},
		{SendOnly, "sendonly"},
		{RecvOnly, "recvonly"},
		{Inactive, "inactive"},
		{Direction(9), "Direction(9)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("Direction(%d).String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRTPMap(t *testing.T) {
	s := mustParse(t, multiMedia)
	audio, video := &s.Media[0], &s.Media[1]
	bad := &Media{Attributes: []Attribute{
		{Key: "rtpmap", Value: "96 opus", HasValue: true},
		{Key: "rtpmap", Value: "97 H264/0", HasValue: true},
		{Key: "rtpmap", Value: "98 L16/8000/x", HasValue: true},
		{Key: "rtpmap", Value: "99 a b/8000", HasValue: true},
		{Key: "rtpmap", Value: "100 PCMU/8000/", HasValue: true},
	}}
	tests := []struct {
		name string
		m    *Media
		pt   int
		want RTPMap
		ok   bool
	}{
		{"with channels", audio, 96, RTPMap{96, "opus", 48000, 2}, true},
		{"without channels", video, 97, RTPMap{97, "H264", 90000, 0}, true},
		{"static type without rtpmap", audio, 0, RTPMap{}, false},
		{"absent", audio, 97, RTPMap{}, false},
		{"negative", audio, -96, RTPMap{}, false},
		{"no clock rate", bad, 96, RTPMap{}, false},
		{"zero clock rate", bad, 97, RTPMap{}, false},
		{"bad channels", bad, 98, RTPMap{}, false},
		{"bad encoding", bad, 99, RTPMap{}, false},
		{"empty channels", bad, 100, RTPMap{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.m.RTPMap(tt.pt)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RTPMap(%d) = %+v, %v; want %+v, %v", tt.pt, got, ok, tt.want, tt.ok)
			}
		})
	}

	offer := mustParse(t, sipOffer)
	for _, want := range []RTPMap{{0, "PCMU", 8000, 0}, {8, "PCMA", 8000, 0}, {101, "telephone-event", 8000, 0}} {
		got, ok := offer.Media[0].RTPMap(want.PayloadType)
		if !ok || got != want {
			t.Errorf("RTPMap(%d) = %+v, %v; want %+v", want.PayloadType, got, ok, want)
		}
	}
}

func TestRTPMapString(t *testing.T) {
	tests := []struct {
		r    RTPMap
		want string
	}{
		{RTPMap{0, "PCMU", 8000, 0}, "0 PCMU/8000"},
		{RTPMap{96, "opus", 48000, 2}, "96 opus/48000/2"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestFmtp(t *testing.T) {
	s := mustParse(t, multiMedia)
	offer := mustParse(t, sipOffer)
	m := &Media{Attributes: []Attribute{{Key: "fmtp", Value: "13", HasValue: true}}}
	tests := []struct {
		name string
		m    *Media
		pt   int
		want string
		ok   bool
	}{
		{"telephone-event", &offer.Media[0], 101, "0-16", true},
		{"opus", &s.Media[0], 96, "minptime=10;useinbandfec=1", true},
		{"h264", &s.Media[1], 97, "profile-level-id=42e01f;packetization-mode=1", true},
		{"absent", &offer.Media[0], 0, "", false},
		{"prefix is not a match", &offer.Media[0], 10, "", false},
		{"no parameters", m, 13, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.m.Fmtp(tt.pt)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Fmtp(%d) = %q, %v; want %q, %v", tt.pt, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPTime(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"20", 20 * time.Millisecond, true},
		{"22.5", 22500 * time.Microsecond, true},
		{"0.125", 125 * time.Microsecond, true},
		{"1.0000019", 1000001 * time.Nanosecond, true},
		{"0", 0, false},
		{"0.0", 0, false},
		{"", 0, false},
		{"20.", 0, false},
		{".5", 0, false},
		{"-20", 0, false},
		{"20ms", 0, false},
		{"99999999999999999999", 0, false},
		{"9223372036854", 0, false},
	}
	for _, tt := range tests {
		m := &Media{Attributes: []Attribute{{Key: "ptime", Value: tt.value, HasValue: true}, {Key: "maxptime", Value: tt.value, HasValue: true}}}
		got, ok := m.PTime()
		if got != tt.want || ok != tt.ok {
			t.Errorf("PTime(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
		got, ok = m.MaxPTime()
		if got != tt.want || ok != tt.ok {
			t.Errorf("MaxPTime(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := (&Media{}).PTime(); ok {
		t.Error("PTime without attribute reported true")
	}
	s := mustParse(t, multiMedia)
	if d, ok := s.Media[0].PTime(); !ok || d != 22500*time.Microsecond {
		t.Errorf("fixture PTime = %v, %v", d, ok)
	}
	if d, ok := s.Media[0].MaxPTime(); !ok || d != 60*time.Millisecond {
		t.Errorf("fixture MaxPTime = %v, %v", d, ok)
	}
}

func TestAttributeLookup(t *testing.T) {
	s := mustParse(t, everything)
	tests := []struct {
		name  string
		attrs interface{ Attribute(string) (string, bool) }
		key   string
		want  string
		ok    bool
	}{
		{"session value", s, "charset", "UTF-8", true},
		{"session property", s, "recvonly", "", true},
		{"session empty value", s, "x-empty", "", true},
		{"session absent", s, "rtpmap", "", false},
		{"case-sensitive", s, "Charset", "", false},
		{"media first of several", &s.Media[0], "rtpmap", "0 PCMU/8000", true},
		{"media does not inherit", &s.Media[0], "charset", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.attrs.Attribute(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Attribute(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	tests := []struct {
		addrType, address string
		want              string // "" means not an IP
	}{
		{"IP4", "192.0.2.1", "192.0.2.1"},
		{"IP6", "2001:db8::1", "2001:db8::1"},
		{"IP6", "ff00::db8:0:101", "ff00::db8:0:101"},
		{"IP4", "233.252.0.1", "233.252.0.1"},
		{"IP4", "host.example.com", ""},
		{"IP6", "host.example.com", ""},
		{"IP4", "2001:db8::1", ""},
		{"IP6", "192.0.2.1", ""},
		{"IP6", "fe80::1%eth0", ""},
		{"X25", "192.0.2.1", ""},
	}
	for _, tt := range tests {
		c := &Connection{NetType: "IN", AddrType: tt.addrType, Address: tt.address}
		o := &Origin{NetType: "IN", AddrType: tt.addrType, Address: tt.address}
		for _, got := range []func() (netip.Addr, bool){c.Addr, o.Addr} {
			a, ok := got()
			if tt.want == "" {
				if ok {
					t.Errorf("Addr(%s %s) = %v, true; want false", tt.addrType, tt.address, a)
				}
				continue
			}
			if !ok || a != netip.MustParseAddr(tt.want) {
				t.Errorf("Addr(%s %s) = %v, %v; want %s", tt.addrType, tt.address, a, ok, tt.want)
			}
		}
	}

	s := mustParse(t, multicast)
	if a, ok := s.Connection.Addr(); !ok || a != netip.MustParseAddr("233.252.0.1") {
		t.Errorf("multicast Connection.Addr = %v, %v", a, ok)
	}
	s = mustParse(t, multiMedia)
	if _, ok := s.Origin.Addr(); ok {
		t.Error("Origin.Addr of an FQDN reported true")
	}
	if s.Origin.Address != "host.example.com" {
		t.Errorf("Origin.Address = %q", s.Origin.Address)
	}
}

func TestMediaConnection(t *testing.T) {
	s := mustParse(t, rfcExample)
	tests := []struct {
		media int
		want  string
	}{
		{0, "198.51.100.1"},
		{1, "198.51.100.1"},
		{2, "2001:db8::2"},
	}
	for _, tt := range tests {
		c := s.MediaConnection(&s.Media[tt.media])
		if c == nil || c.Address != tt.want {
			t.Errorf("MediaConnection(%d) = %+v, want address %s", tt.media, c, tt.want)
		}
	}
	if c := (&Session{}).MediaConnection(&Media{}); c != nil {
		t.Errorf("MediaConnection with no c= = %+v, want nil", c)
	}
}

func TestParseNoMediaNoConnection(t *testing.T) {
	s := mustParse(t, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n")
	if s.Connection != nil || s.Media != nil {
		t.Errorf("got Connection %v, Media %v; want nil", s.Connection, s.Media)
	}
}

// TestParseDoesNotRetainInput checks that the Session does not alias the
// caller's buffer.
func TestParseDoesNotRetainInput(t *testing.T) {
	b := []byte(crlf(sipOffer))
	s := mustParse(t, string(b))
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(got, s) {
		t.Error("Session changed after the input buffer was overwritten")
	}
}

// TestParsedSlicesIndependent checks that growing one section's slices does
// not overwrite another section's elements, although Parse carves them from
// shared arrays.
func TestParsedSlicesIndependent(t *testing.T) {
	s := mustParse(t, crlf(multiMedia))
	want := mustParse(t, crlf(multiMedia))
	s.Attributes = append(s.Attributes, Attribute{Key: "x"})
	s.Bandwidths = append(s.Bandwidths, Bandwidth{"AS", 1})
	s.Media[0].Attributes = append(s.Media[0].Attributes, Attribute{Key: "y"})
	s.Media[0].Formats = append(s.Media[0].Formats, "9")
	s.Media[0].Connections = append(s.Media[0].Connections, Connection{Address: "z"})
	s.Media[0].Bandwidths = append(s.Media[0].Bandwidths, Bandwidth{"AS", 2})
	s.Media[0].SetDirection(Inactive)
	for i := 1; i < len(s.Media); i++ {
		if !reflect.DeepEqual(s.Media[i], want.Media[i]) {
			t.Errorf("media %d changed:\n got %#v\nwant %#v", i, s.Media[i], want.Media[i])
		}
	}
	if d, _ := s.Media[0].Direction(); d != Inactive {
		t.Errorf("Media[0] direction = %v, want inactive", d)
	}
	if d, _ := s.Media[1].Direction(); d != RecvOnly {
		t.Errorf("Media[1] direction = %v, want recvonly", d)
	}
}

// TestParseLarge exercises descriptions with more lines than Parse
// preallocates for, so that the shared arrays grow while sections are
// being carved from them.
func TestParseLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:1\r\nt=0 0\r\n")
	for i := range 100 {
		b.WriteString("a=s" + strconv.Itoa(i) + "\r\n")
	}
	const media = 50
	for i := range media {
		b.WriteString("m=audio " + strconv.Itoa(1000+i) + " RTP/AVP")
		for f := range 5 {
			b.WriteString(" " + strconv.Itoa(i*5+f))
		}
		b.WriteString("\r\nc=IN IP4 192.0.2.2\r\nb=AS:" + strconv.Itoa(i) + "\r\n")
		for a := range 3 {
			b.WriteString("a=m" + strconv.Itoa(i) + ":" + strconv.Itoa(a) + "\r\n")
		}
	}
	in := b.String()
	s := mustParse(t, in)
	if got := s.String(); got != in {
		t.Fatalf("String differs from input")
	}
	if len(s.Attributes) != 100 || len(s.Media) != media {
		t.Fatalf("got %d session attributes and %d media", len(s.Attributes), len(s.Media))
	}
	for i := range s.Media {
		m := &s.Media[i]
		if len(m.Formats) != 5 || m.Formats[0] != strconv.Itoa(i*5) ||
			len(m.Attributes) != 3 || m.Attributes[2].Key != "m"+strconv.Itoa(i) ||
			len(m.Connections) != 1 || len(m.Bandwidths) != 1 || m.Bandwidths[0].Value != uint64(i) {
			t.Errorf("media %d = %#v", i, m)
		}
	}
	checkRoundTrip(t, s)
}

// TestLenient holds what deployed UAs send that the strict grammar would
// refuse, and that Parley accepts on purpose.
func TestLenient(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	for name, in := range map[string]string{
		"trailing blank line":  base + "\r\n",
		"trailing blank lines": base + "\r\n\r\n",
		"empty s=":             strings.Replace(base, "s=-", "s=", 1),
		"short t= value":       strings.Replace(base, "t=0 0", "t=3600 0", 1),
	} {
		s, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		again, err := Parse(s.AppendTo(nil))
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Errorf("%s: does not round-trip: %v", name, err)
		}
	}
	if _, err := Parse([]byte(base + "\r\na=x\r\n")); err == nil {
		t.Error("a blank line followed by more lines accepted")
	}
}
