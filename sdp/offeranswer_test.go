package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// roundTrip checks that s encodes to a description that Parse accepts and
// that parses back to s.
func roundTrip(t *testing.T, s *Session) {
	t.Helper()
	b := s.AppendTo(nil)
	p, err := Parse(b)
	if err != nil {
		t.Fatalf("generated description does not parse: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(p, s) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v\n%s", p, s, b)
	}
}

// sdpLines joins lines with CRLF into a description.
func sdpLines(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

const offerHead = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"

func offerWith(lines ...string) string { return offerHead + sdpLines(lines...) }

var (
	pcmu = Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000}
	pcma = Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}
	g722 = Codec{PayloadType: 9, Name: "G722", ClockRate: 8000}
	dtmf = Codec{PayloadType: 100, Name: "telephone-event", ClockRate: 8000}
	opus = Codec{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2}
	h264 = Codec{PayloadType: 97, Name: "H264", ClockRate: 90000}
)

// caps returns capabilities for audio with the given codecs, handing out
// ports 10000, 10002, ...
func caps(codecs ...Codec) Capabilities {
	next := 10000
	return Capabilities{
		Username:  "bob",
		SessionID: 42,
		Address:   netip.MustParseAddr("192.0.2.20"),
		Ports: func(string) int {
			p := next
			next += 2
			return p
		},
		Media: []MediaCapability{{Type: "audio", Codecs: codecs}},
	}
}

func TestStaticCodec(t *testing.T) {
	tests := []struct {
		pt   int
		want Codec
		ok   bool
	}{
		{0, Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000}, true},
		{3, Codec{PayloadType: 3, Name: "GSM", ClockRate: 8000}, true},
		{4, Codec{PayloadType: 4, Name: "G723", ClockRate: 8000}, true},
		{8, Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}, true},
		{9, Codec{PayloadType: 9, Name: "G722", ClockRate: 8000}, true},
		{10, Codec{PayloadType: 10, Name: "L16", ClockRate: 44100, Channels: 2}, true},
		{18, Codec{PayloadType: 18, Name: "G729", ClockRate: 8000}, true},
		{34, Codec{PayloadType: 34, Name: "H263", ClockRate: 90000}, true},
		{2, Codec{PayloadType: 2}, false},
		{96, Codec{PayloadType: 96}, false},
	}
	for _, tt := range tests {
		got, ok := StaticCodec(tt.pt)
		if got != tt.want || ok != tt.ok {
			t.Errorf("StaticCodec(%d) = %v, %v; want %v, %v", tt.pt, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMediaCodecs(t *testing.T) {
	tests := []struct {
		name string
		m    string
		want []Codec
	}{
		{"static without rtpmap", sdpLines("m=audio 1 RTP/AVP 0 3 4 8 9 18"), []Codec{
			{0, "PCMU", 8000, 0, ""}, {3, "GSM", 8000, 0, ""}, {4, "G723", 8000, 0, ""},
			{8, "PCMA", 8000, 0, ""}, {9, "G722", 8000, 0, ""}, {18, "G729", 8000, 0, "annexb=no"}}},
		{"rtpmap wins over static table", sdpLines("m=audio 1 RTP/AVP 0", "a=rtpmap:0 pcmu/8000"), []Codec{
			{0, "pcmu", 8000, 0, ""}}},
		{"dynamic with and without rtpmap", sdpLines("m=audio 1 RTP/AVP 101 96 111",
			"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=rtpmap:111 opus/48000/2"), []Codec{
			{101, "telephone-event", 8000, 0, "0-16"}, {96, "", 0, 0, ""}, {111, "opus", 48000, 2, ""}}},
		{"non-RTP formats skipped", sdpLines("m=image 1 udptl t38"), nil},
		{"unassigned static number", sdpLines("m=audio 1 RTP/AVP 19"), []Codec{{19, "", 0, 0, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := offerHead + tt.m
			if tt.name == "static without rtpmap" {
				in += "a=fmtp:18 annexb=no\r\n"
			}
			s := mustParse(t, in)
			if got := s.Media[0].Codecs(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Codecs() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCodecMatches(t *testing.T) {
	tests := []struct {
		a, b Codec
		want bool
	}{
		{pcma, Codec{PayloadType: 120, Name: "pcma", ClockRate: 8000}, true},
		{pcma, Codec{PayloadType: 8, Name: "PCMA", ClockRate: 16000}, false},
		{Codec{Name: "L16", ClockRate: 8000, Channels: 1}, Codec{Name: "L16", ClockRate: 8000}, true},
		{Codec{Name: "L16", ClockRate: 8000, Channels: 2}, Codec{Name: "L16", ClockRate: 8000}, false},
		{Codec{PayloadType: 96}, Codec{PayloadType: 96}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Matches(tt.b); got != tt.want {
			t.Errorf("%v.Matches(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAnswerCodecs(t *testing.T) {
	offer := offerWith("m=audio 49170 RTP/AVP 0 8 101",
		"a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")
	tests := []struct {
		name       string
		offer      string
		local      []Codec
		localOrder bool
		wantFmts   []string
		wantAttrs  []Attribute
		wantErr    error
	}{
		{
			name: "PCMA and telephone-event, offer PT kept", offer: offer,
			local:    []Codec{pcma, dtmf},
			wantFmts: []string{"8", "101"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "8 PCMA/8000", HasValue: true},
				{Key: "rtpmap", Value: "101 telephone-event/8000", HasValue: true},
				{Key: "fmtp", Value: "101 0-16", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name: "offer order by default", offer: offer,
			local:    []Codec{pcma, pcmu},
			wantFmts: []string{"0", "8"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true},
				{Key: "rtpmap", Value: "8 PCMA/8000", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name: "local order on request", offer: offer,
			local: []Codec{dtmf, pcma, pcmu}, localOrder: true,
			wantFmts: []string{"101", "8", "0"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "101 telephone-event/8000", HasValue: true},
				{Key: "rtpmap", Value: "8 PCMA/8000", HasValue: true},
				{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true},
				{Key: "fmtp", Value: "101 0-16", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name:  "local fmtp replaces offered",
			offer: offer, local: []Codec{pcmu, {PayloadType: 100, Name: "telephone-event", ClockRate: 8000, Fmtp: "0-15"}},
			wantFmts: []string{"0", "101"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "0 PCMU/8000", HasValue: true},
				{Key: "rtpmap", Value: "101 telephone-event/8000", HasValue: true},
				{Key: "fmtp", Value: "101 0-15", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name: "dynamic opus PT of the offer", offer: offerWith("m=audio 49170 RTP/AVP 96 0", "a=rtpmap:96 OPUS/48000/2"),
			local:    []Codec{opus},
			wantFmts: []string{"96"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "96 OPUS/48000/2", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name: "static type without rtpmap gets one", offer: offerWith("m=audio 49170 RTP/AVP 18 9"),
			local:    []Codec{g722},
			wantFmts: []string{"9"},
			wantAttrs: []Attribute{
				{Key: "rtpmap", Value: "9 G722/8000", HasValue: true},
				{Key: "sendrecv"},
			},
		},
		{
			name: "only telephone-event in common", offer: offer,
			local: []Codec{g722, dtmf}, wantErr: ErrNoCommonMedia,
		},
		{
			name: "clock rate differs", offer: offerWith("m=audio 49170 RTP/AVP 96", "a=rtpmap:96 opus/16000/2"),
			local: []Codec{opus}, wantErr: ErrNoCommonMedia,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := caps(tt.local...)
			local.LocalOrder = tt.localOrder
			a, err := Answer(mustParse(t, tt.offer), local)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Answer error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if a != nil {
					t.Errorf("Answer returned a session with error %v", err)
				}
				return
			}
			roundTrip(t, a)
			m := a.Media[0]
			if m.Port != 10000 || m.Proto != "RTP/AVP" || m.Type != "audio" {
				t.Errorf("m= line = %s %d %s", m.Type, m.Port, m.Proto)
			}
			if !reflect.DeepEqual(m.Formats, tt.wantFmts) {
				t.Errorf("formats = %q, want %q", m.Formats, tt.wantFmts)
			}
			if !reflect.DeepEqual(m.Attributes, tt.wantAttrs) {
				t.Errorf("attributes = %v, want %v", m.Attributes, tt.wantAttrs)
			}
			if err := ValidateAnswer(mustParse(t, tt.offer), a); err != nil {
				t.Errorf("ValidateAnswer(own answer) = %v", err)
			}
		})
	}
}

func TestAnswerRejects(t *testing.T) {
	audio := "m=audio 49170 RTP/AVP 0"
	tests := []struct {
		name      string
		offer     string
		ports     func(string) int
		wantPorts []int
		wantFmt   []string // first format of each stream
	}{
		{"video unsupported", offerWith(audio, "m=video 51372 RTP/AVP 31 32"), nil,
			[]int{10000, 0}, []string{"0", "31"}},
		{"offered port 0 stays rejected", offerWith("m=audio 0 RTP/AVP 8 0", audio), nil,
			[]int{0, 10000}, []string{"8", "0"}},
		{"transport differs", offerWith("m=audio 49170 RTP/SAVP 0", audio), nil,
			[]int{0, 10000}, []string{"0", "0"}},
		{"no common codec in one stream", offerWith("m=audio 49170 RTP/AVP 18", audio), nil,
			[]int{0, 10000}, []string{"18", "0"}},
		{"no port available", offerWith(audio, audio), func() func(string) int {
			n := 0
			return func(string) int { n++; return map[int]int{1: 4000, 2: 0}[n] }
		}(), []int{4000, 0}, []string{"0", "0"}},
		{"multicast offer", offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 233.252.0.1/127", audio), nil,
			[]int{0, 10000}, []string{"0", "0"}},
		{"all offered streams disabled", offerWith("m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 31"), nil,
			[]int{0, 0}, []string{"0", "31"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := caps(pcmu)
			if tt.ports != nil {
				local.Ports = tt.ports
			}
			offer := mustParse(t, tt.offer)
			a, err := Answer(offer, local)
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			roundTrip(t, a)
			if len(a.Media) != len(offer.Media) {
				t.Fatalf("answer has %d m= lines, offer %d", len(a.Media), len(offer.Media))
			}
			for i, m := range a.Media {
				if m.Port != tt.wantPorts[i] || m.Formats[0] != tt.wantFmt[i] || m.Type != offer.Media[i].Type {
					t.Errorf("m[%d] = %s %d %v, want port %d format %s", i, m.Type, m.Port, m.Formats, tt.wantPorts[i], tt.wantFmt[i])
				}
				if m.Port == 0 && (len(m.Formats) != 1 || m.Attributes != nil || m.Proto != offer.Media[i].Proto) {
					t.Errorf("rejected m[%d] = %+v, want one format, offered proto, no attributes", i, m)
				}
			}
			if err := ValidateAnswer(offer, a); err != nil {
				t.Errorf("ValidateAnswer(own answer) = %v", err)
			}
		})
	}
}

func TestAnswerWholeSessionRejected(t *testing.T) {
	tests := []struct {
		name  string
		offer string
	}{
		{"video only", offerWith("m=video 51372 RTP/AVP 31")},
		{"no common codec", offerWith("m=audio 49170 RTP/AVP 18")},
	}
	for _, tt := range tests {
		a, err := Answer(mustParse(t, tt.offer), caps(pcmu))
		if !errors.Is(err, ErrNoCommonMedia) || a != nil {
			t.Errorf("%s: Answer = %v, %v; want nil, ErrNoCommonMedia", tt.name, a, err)
		}
	}
	var oe *OfferAnswerError
	if _, err := Answer(&Session{Media: []Media{{Type: "audio"}}}, caps(pcmu)); !errors.As(err, &oe) {
		t.Errorf("Answer(no t=) error = %v, want *OfferAnswerError", err)
	}
	if _, err := Answer(nil, caps(pcmu)); !errors.As(err, &oe) {
		t.Errorf("Answer(nil) error = %v, want *OfferAnswerError", err)
	}
}

func TestAnswerDirection(t *testing.T) {
	want := map[[2]Direction]Direction{
		// offered × local preference → answer (RFC 3264 §6.1).
		{SendRecv, SendRecv}: SendRecv, {SendRecv, SendOnly}: SendOnly, {SendRecv, RecvOnly}: RecvOnly, {SendRecv, Inactive}: Inactive,
		{SendOnly, SendRecv}: RecvOnly, {SendOnly, SendOnly}: Inactive, {SendOnly, RecvOnly}: RecvOnly, {SendOnly, Inactive}: Inactive,
		{RecvOnly, SendRecv}: SendOnly, {RecvOnly, SendOnly}: SendOnly, {RecvOnly, RecvOnly}: Inactive, {RecvOnly, Inactive}: Inactive,
		{Inactive, SendRecv}: Inactive, {Inactive, SendOnly}: Inactive, {Inactive, RecvOnly}: Inactive, {Inactive, Inactive}: Inactive,
	}
	for _, offered := range []Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
		for _, pref := range []Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
			// Once at media level, once at session level.
			for _, sessionLevel := range []bool{false, true} {
				var offer string
				if sessionLevel {
					offer = offerHead + "a=" + offered.String() + "\r\nm=audio 49170 RTP/AVP 0\r\n"
				} else {
					offer = offerWith("m=audio 49170 RTP/AVP 0", "a="+offered.String())
				}
				local := caps(pcmu)
				local.Direction = pref
				o := mustParse(t, offer)
				a, err := Answer(o, local)
				if err != nil {
					t.Fatal(err)
				}
				roundTrip(t, a)
				got, ok := a.Media[0].Direction()
				w := want[[2]Direction{offered, pref}]
				if !ok || got != w {
					t.Errorf("offer %v (session level %v), local %v: answer %v, want %v", offered, sessionLevel, pref, got, w)
				}
				if got2 := AnswerDirection(offered, pref); got2 != w {
					t.Errorf("AnswerDirection(%v, %v) = %v, want %v", offered, pref, got2, w)
				}
				if err := ValidateAnswer(o, a); err != nil {
					t.Errorf("ValidateAnswer: %v", err)
				}
			}
		}
	}
}

func TestAnswerOldStyleHold(t *testing.T) {
	// RFC 2543 hold, c= 0.0.0.0 (RFC 3264 §8.4): send nothing to the peer.
	tests := []struct {
		offered Direction
		want    Direction
	}{
		{SendRecv, RecvOnly},
		{SendOnly, RecvOnly},
		{RecvOnly, Inactive},
		{Inactive, Inactive},
	}
	for _, tt := range tests {
		offer := strings.Replace(offerWith("m=audio 49170 RTP/AVP 0", "a="+tt.offered.String()),
			"c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0", 1)
		a, err := Answer(mustParse(t, offer), caps(pcmu))
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, a)
		if got := a.MediaDirection(&a.Media[0]); got != tt.want {
			t.Errorf("0.0.0.0 %v offer: answer %v, want %v", tt.offered, got, tt.want)
		}
	}
}

func TestAnswerSessionLines(t *testing.T) {
	offer := mustParse(t, "v=0\r\no=alice 1 7 IN IP4 192.0.2.10\r\ns=call\r\nc=IN IP4 192.0.2.10\r\n"+
		"t=3034423619 3042462419\r\nr=604800 3600 0 90000\r\na=tool:x\r\n"+
		"m=audio 49170 RTP/AVP 0\r\na=ptime:30\r\n"+
		"m=audio 49172 RTP/AVP 0\r\na=ptime:60\r\n"+
		"m=audio 49174 RTP/AVP 0\r\n")
	local := caps(pcmu)
	local.SessionID = 0
	local.SessionVersion = 5
	local.Username = ""
	local.Address = netip.MustParseAddr("2001:db8::20")
	local.Media[0].PTime = 20 * time.Millisecond
	local.Media[0].MaxPTime = 40 * time.Millisecond
	a, err := Answer(offer, local)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, a)
	o := a.Origin
	if o.Username != "-" || o.SessionID == 0 || o.SessionID >= 1<<62 || o.SessionVersion != 5 ||
		o.AddrType != "IP6" || o.Address != "2001:db8::20" {
		t.Errorf("origin = %+v", o)
	}
	if c := a.Connection; c == nil || *c != (Connection{NetType: "IN", AddrType: "IP6", Address: "2001:db8::20"}) {
		t.Errorf("connection = %+v", c)
	}
	if !reflect.DeepEqual(a.Times, offer.Times) {
		t.Errorf("t= = %+v, want the offer's %+v", a.Times, offer.Times)
	}
	if a.Attributes != nil {
		t.Errorf("session attributes copied: %v", a.Attributes)
	}
	for i, want := range []string{"30", "20", "20"} {
		if v, _ := a.Media[i].Attribute("ptime"); v != want {
			t.Errorf("m[%d] ptime = %q, want %q", i, v, want)
		}
	}
	// Invalid local address: 0.0.0.0 (RFC 3264 §8.4).
	local.Address = netip.Addr{}
	a, err = Answer(offer, local)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, a)
	if a.Connection.Address != "0.0.0.0" || a.Origin.Address != "0.0.0.0" {
		t.Errorf("no address: c= %v o= %v", a.Connection.Address, a.Origin.Address)
	}
}

func TestNewOffer(t *testing.T) {
	local := caps(pcmu, pcma, dtmf)
	local.Media[0].PTime = 20 * time.Millisecond
	local.Media = append(local.Media, MediaCapability{Type: "video", Codecs: []Codec{h264}})
	local.SessionVersion = 3
	s := NewOffer(local)
	roundTrip(t, s)
	want := "v=0\r\no=bob 42 3 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n" +
		"m=audio 10000 RTP/AVP 0 8 100\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:100 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n" +
		"m=video 10002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=sendrecv\r\n"
	if got := s.String(); got != want {
		t.Errorf("NewOffer =\n%s\nwant\n%s", got, want)
	}
	// Answering our own offer with the same capabilities accepts all.
	a, err := Answer(s, caps(pcmu, pcma, dtmf))
	if err != nil {
		t.Fatal(err)
	}
	if a.Media[0].Port == 0 || a.Media[1].Port != 0 {
		t.Errorf("answer ports %d %d, want audio accepted, video rejected", a.Media[0].Port, a.Media[1].Port)
	}
	// No ports: disabled streams.
	local.Ports = nil
	s = NewOffer(local)
	roundTrip(t, s)
	if s.Media[0].Port != 0 || !reflect.DeepEqual(s.Media[0].Formats, []string{"0"}) {
		t.Errorf("offer without ports: %+v", s.Media[0])
	}
}

func TestDirectionHoldResume(t *testing.T) {
	tests := []struct{ d, hold, resume Direction }{
		{SendRecv, SendOnly, SendRecv},
		{SendOnly, SendOnly, SendRecv},
		{RecvOnly, Inactive, RecvOnly},
		{Inactive, Inactive, RecvOnly},
	}
	for _, tt := range tests {
		if got := tt.d.Hold(); got != tt.hold {
			t.Errorf("%v.Hold() = %v, want %v", tt.d, got, tt.hold)
		}
		if got := tt.d.Resume(); got != tt.resume {
			t.Errorf("%v.Resume() = %v, want %v", tt.d, got, tt.resume)
		}
	}
}

func TestReofferHoldResume(t *testing.T) {
	local := caps(pcmu)
	local.Media = append(local.Media, local.Media[0])
	local.SessionVersion = 10
	initial := NewOffer(local)
	initial.Media[1].SetDirection(RecvOnly) // peer is sendonly on stream 2
	initial.Media = append(initial.Media, disabledMedia("video", "RTP/AVP", []string{"31"}))

	tests := []struct {
		name    string
		edit    func(*Session)
		version uint64
		dirs    []Direction
	}{
		{"hold", (*Session).Hold, 11, []Direction{SendOnly, Inactive}},
		{"hold then resume", func(s *Session) { s.Hold(); s.Resume() }, 11, []Direction{SendRecv, RecvOnly}},
		{"no change", func(*Session) {}, 11, []Direction{SendRecv, RecvOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := initial.String()
			re := initial.Reoffer()
			tt.edit(re)
			roundTrip(t, re)
			if initial.String() != before {
				t.Fatal("Reoffer modified the previous description")
			}
			if re.Origin.SessionVersion != tt.version {
				t.Errorf("version = %d, want %d", re.Origin.SessionVersion, tt.version)
			}
			wantOrigin := initial.Origin
			wantOrigin.SessionVersion = tt.version
			if re.Origin != wantOrigin {
				t.Errorf("origin = %+v, want %+v", re.Origin, wantOrigin)
			}
			for i, d := range tt.dirs {
				if got := re.MediaDirection(&re.Media[i]); got != d {
					t.Errorf("m[%d] direction = %v, want %v", i, got, d)
				}
			}
			if _, ok := re.Media[2].Direction(); ok {
				t.Error("disabled stream got a direction")
			}
			var n Negotiation
			mustNil(t, n.LocalOffer(initial))
			mustNil(t, n.RemoteAnswer(answerFor(t, initial)))
			mustNil(t, n.LocalOffer(re))
		})
	}
}

func TestRemoveAddMedia(t *testing.T) {
	local := caps(pcmu, dtmf)
	local.Media = append(local.Media, MediaCapability{Type: "video", Codecs: []Codec{h264}})
	prev := NewOffer(local)

	re := prev.Reoffer()
	re.RemoveMedia(1)
	roundTrip(t, re)
	if m := re.Media[1]; m.Port != 0 || m.Type != "video" || !reflect.DeepEqual(m.Formats, []string{"97"}) || m.Attributes != nil {
		t.Errorf("removed stream = %+v", m)
	}
	if len(re.Media) != 2 {
		t.Errorf("removal changed the m= line count to %d", len(re.Media))
	}

	// Adding in a later offer reuses the port-0 slot (RFC 3264 §8.1).
	re2 := re.Reoffer()
	add := NewMedia(MediaCapability{Type: "video", Codecs: []Codec{h264}}, 20000, SendRecv)
	if i := re2.AddMedia(add); i != 1 {
		t.Errorf("AddMedia reused index %d, want 1", i)
	}
	roundTrip(t, re2)
	if re2.Media[1].Port != 20000 || re2.Origin.SessionVersion != prev.Origin.SessionVersion+2 {
		t.Errorf("re-added stream port %d, version %d", re2.Media[1].Port, re2.Origin.SessionVersion)
	}
	// With no free slot, it is appended.
	re3 := re2.Reoffer()
	if i := re3.AddMedia(NewMedia(local.Media[0], 30000, SendOnly)); i != 2 {
		t.Errorf("AddMedia appended at %d, want 2", i)
	}
	roundTrip(t, re3)

	// The whole sequence is valid for a Negotiation.
	var n Negotiation
	for _, s := range []*Session{prev, re, re2, re3} {
		mustNil(t, n.LocalOffer(s))
		mustNil(t, n.RemoteAnswer(answerFor(t, s)))
	}
}

func TestValidateAnswer(t *testing.T) {
	offer := mustParse(t, offerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly",
		"m=video 0 RTP/AVP 31"))
	head := "v=0\r\no=bob 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
	tests := []struct {
		name   string
		answer string
		ok     bool
	}{
		{"valid", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=recvonly", "m=video 0 RTP/AVP 31"), true},
		{"different PT for same codec", head + sdpLines("m=audio 5004 RTP/AVP 96", "a=rtpmap:96 PCMU/8000", "a=inactive", "m=video 0 RTP/AVP 31"), true},
		{"extra formats allowed", head + sdpLines("m=audio 5004 RTP/AVP 0 8", "a=recvonly", "m=video 0 RTP/AVP 31"), true},
		{"rejected audio", head + sdpLines("m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 31"), true},
		{"too few m= lines", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=recvonly"), false},
		{"too many m= lines", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=recvonly", "m=video 0 RTP/AVP 31", "m=audio 0 RTP/AVP 0"), false},
		{"codec not in offer", head + sdpLines("m=audio 5004 RTP/AVP 8", "a=recvonly", "m=video 0 RTP/AVP 31"), false},
		{"dynamic PT rebound to another codec", head + sdpLines("m=audio 5004 RTP/AVP 101", "a=rtpmap:101 G722/8000", "a=recvonly", "m=video 0 RTP/AVP 31"), false},
		{"media type changed", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=recvonly", "m=audio 0 RTP/AVP 0"), false},
		{"port-0 stream accepted", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=recvonly", "m=video 5006 RTP/AVP 31"), false},
		{"sendonly answer to sendonly", head + sdpLines("m=audio 5004 RTP/AVP 0", "a=sendonly", "m=video 0 RTP/AVP 31"), false},
		{"implicit sendrecv answer to sendonly", head + sdpLines("m=audio 5004 RTP/AVP 0", "m=video 0 RTP/AVP 31"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAnswer(offer, mustParse(t, tt.answer))
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateAnswer = %v, want ok %v", err, tt.ok)
			}
			var oe *OfferAnswerError
			if err != nil && !errors.As(err, &oe) {
				t.Errorf("error %T is not *OfferAnswerError", err)
			}
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// answerFor answers offer as a peer supporting PCMU, H264 and
// telephone-event, checking the answer round-trips.
func answerFor(t *testing.T, offer *Session) *Session {
	t.Helper()
	peer := caps(pcmu, dtmf)
	peer.Username = "peer"
	peer.SessionID = 99
	peer.Media = append(peer.Media, MediaCapability{Type: "video", Codecs: []Codec{h264}})
	a, err := Answer(offer, peer)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	roundTrip(t, a)
	return a
}

func TestNegotiationStates(t *testing.T) {
	offer := NewOffer(caps(pcmu))
	answer := answerFor(t, offer)
	tests := []struct {
		name  string
		steps func(n *Negotiation) error
		want  error
		state NegotiationState
	}{
		{"glare: remote offer while local outstanding", func(n *Negotiation) error {
			mustNil(t, n.LocalOffer(offer))
			return n.RemoteOffer(answer)
		}, ErrGlare, HaveLocalOffer},
		{"second remote offer", func(n *Negotiation) error {
			mustNil(t, n.RemoteOffer(offer))
			return n.RemoteOffer(offer)
		}, ErrOfferPending, HaveRemoteOffer},
		{"local offer while remote outstanding", func(n *Negotiation) error {
			mustNil(t, n.RemoteOffer(offer))
			return n.LocalOffer(answer)
		}, ErrOfferPending, HaveRemoteOffer},
		{"two local offers", func(n *Negotiation) error {
			mustNil(t, n.LocalOffer(offer))
			return n.LocalOffer(offer)
		}, ErrOfferPending, HaveLocalOffer},
		{"remote answer without offer", func(n *Negotiation) error { return n.RemoteAnswer(answer) }, ErrNoOffer, Stable},
		{"local answer to own offer", func(n *Negotiation) error {
			mustNil(t, n.LocalOffer(offer))
			return n.LocalAnswer(answer)
		}, ErrNoOffer, HaveLocalOffer},
		{"Answer without remote offer", func(n *Negotiation) error { _, err := n.Answer(caps(pcmu)); return err }, ErrNoOffer, Stable},
		{"glare then rollback", func(n *Negotiation) error {
			mustNil(t, n.LocalOffer(offer))
			if err := n.RemoteOffer(answer); !errors.Is(err, ErrGlare) {
				t.Fatalf("RemoteOffer = %v", err)
			}
			n.Rollback()
			return n.RemoteOffer(answer)
		}, nil, HaveRemoteOffer},
		{"invalid remote answer keeps the offer", func(n *Negotiation) error {
			mustNil(t, n.LocalOffer(offer))
			bad := answer.Clone()
			bad.Media = append(bad.Media, bad.Media[0])
			return n.RemoteAnswer(bad)
		}, &OfferAnswerError{}, HaveLocalOffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n Negotiation
			err := tt.steps(&n)
			if oe := (*OfferAnswerError)(nil); errors.As(tt.want, &oe) {
				if !errors.As(err, &oe) {
					t.Errorf("err = %v, want *OfferAnswerError", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if n.State() != tt.state {
				t.Errorf("state = %v, want %v", n.State(), tt.state)
			}
		})
	}
}

func TestNegotiationExchanges(t *testing.T) {
	local := caps(pcmu, dtmf)
	var n Negotiation
	if n.State() != Stable || n.Local() != nil || n.Remote() != nil || n.Pending() != nil || n.Refresh() != nil {
		t.Fatal("zero Negotiation is not empty and stable")
	}

	// 1. The peer offers; we answer.
	offer1 := mustParse(t, offerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"))
	mustNil(t, n.RemoteOffer(offer1))
	if !n.Changed() || n.State() != HaveRemoteOffer || n.Pending().String() != offer1.String() {
		t.Fatalf("after remote offer: changed %v state %v", n.Changed(), n.State())
	}
	a1, err := n.Answer(local)
	mustNil(t, err)
	roundTrip(t, a1)
	mustNil(t, n.LocalAnswer(a1))
	if n.State() != Stable || n.Local().String() != a1.String() || n.Remote().String() != offer1.String() {
		t.Fatal("descriptions not recorded")
	}
	offer1.Media[0].Port = 1 // the Negotiation keeps its own copy
	if n.Remote().Media[0].Port != 49170 {
		t.Fatal("Negotiation shares the caller's description")
	}
	offer1.Media[0].Port = 49170

	// 2. Same-version refresh from the peer: no change, same answer version.
	mustNil(t, n.RemoteOffer(offer1.Clone()))
	if n.Changed() {
		t.Error("same-version refresh reported as changed")
	}
	a2, err := n.Answer(local)
	mustNil(t, err)
	if a2.Origin != a1.Origin || a2.String() != a1.String() {
		t.Errorf("answer to refresh = %v, want the previous %v", a2.Origin, a1.Origin)
	}
	mustNil(t, n.LocalAnswer(a2))

	// 3. The peer puts us on hold: version+1, changed, our answer version+1.
	hold := offer1.Reoffer()
	hold.Hold()
	roundTrip(t, hold)
	mustNil(t, n.RemoteOffer(hold))
	if !n.Changed() {
		t.Error("hold offer not reported as changed")
	}
	a3, err := n.Answer(local)
	mustNil(t, err)
	roundTrip(t, a3)
	if a3.Origin.SessionID != a1.Origin.SessionID || a3.Origin.SessionVersion != a1.Origin.SessionVersion+1 {
		t.Errorf("answer origin %+v after %+v", a3.Origin, a1.Origin)
	}
	if d := a3.MediaDirection(&a3.Media[0]); d != RecvOnly {
		t.Errorf("answer to hold = %v, want recvonly", d)
	}
	mustNil(t, n.LocalAnswer(a3))

	// 4. We re-offer (resume from our side is a no-op here): version+1 of a3.
	re := n.Local().Reoffer()
	re.Resume()
	mustNil(t, n.LocalOffer(re))
	peerAnswer := answerFor(t, re)
	mustNil(t, n.RemoteAnswer(peerAnswer))
	if !n.Changed() || n.Local().Origin.SessionVersion != a3.Origin.SessionVersion+1 {
		t.Errorf("after local re-offer: changed %v local %+v", n.Changed(), n.Local().Origin)
	}

	// 5. A bodiless re-INVITE asks us for an offer: the refresh is the
	// previous description, same version, and the same answer is no change.
	ref := n.Refresh()
	if ref.String() != n.Local().String() {
		t.Error("Refresh differs from the local description")
	}
	mustNil(t, n.LocalOffer(ref))
	mustNil(t, n.RemoteAnswer(peerAnswer.Clone()))
	if n.Changed() {
		t.Error("refresh answered identically reported as changed")
	}

	// 6. Broken local re-offers are refused.
	bad := []struct {
		name string
		edit func(*Session)
	}{
		{"changed without new version", func(s *Session) { s.Media[0].Port++ }},
		{"version skipped", func(s *Session) { s.Origin.SessionVersion += 2 }},
		{"session id changed", func(s *Session) { s.Origin.SessionID++; s.Origin.SessionVersion++ }},
		{"m= line dropped", func(s *Session) { s.Media = s.Media[:0]; s.Origin.SessionVersion++ }},
	}
	for _, b := range bad {
		s := n.Local().Clone()
		b.edit(s)
		var oe *OfferAnswerError
		if err := n.LocalOffer(s); !errors.As(err, &oe) {
			t.Errorf("%s: LocalOffer = %v, want *OfferAnswerError", b.name, err)
		}
		if n.State() != Stable {
			t.Fatalf("%s: state %v", b.name, n.State())
		}
	}
	// And a remote offer dropping an m= line.
	short := n.Remote().Reoffer()
	short.Media = nil
	var oe *OfferAnswerError
	if err := n.RemoteOffer(short); !errors.As(err, &oe) {
		t.Errorf("RemoteOffer(fewer m= lines) = %v", err)
	}
}

func TestStateString(t *testing.T) {
	for st, want := range map[NegotiationState]string{Stable: "stable", HaveLocalOffer: "local-offer",
		HaveRemoteOffer: "remote-offer", 9: "NegotiationState(9)"} {
		if got := st.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	e := &OfferAnswerError{Media: 1, Reason: "x"}
	if e.Error() != "sdp: m= line 2: x" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestNegotiationRollbackVersions(t *testing.T) {
	var n Negotiation
	o1 := NewOffer(caps(pcmu))
	mustNil(t, n.LocalOffer(o1))
	mustNil(t, n.RemoteAnswer(answerFor(t, o1)))

	// A hold re-offer (v+1) is rejected with 491 and rolled back.
	hold := n.Local().Reoffer()
	hold.Hold()
	mustNil(t, n.LocalOffer(hold))
	n.Rollback()
	if n.State() != Stable || n.Local().String() != o1.String() {
		t.Fatal("Rollback did not restore the previous exchange")
	}
	// Retrying with the same version, or one more than the rejected
	// offer, is accepted; two more is not.
	tests := []struct {
		version uint64
		ok      bool
	}{{1, true}, {2, true}, {3, false}}
	for _, tt := range tests {
		var m Negotiation = n
		s := hold.Clone()
		s.Origin.SessionVersion = o1.Origin.SessionVersion + tt.version
		if err := m.LocalOffer(s); (err == nil) != tt.ok {
			t.Errorf("version +%d after rollback: %v, want ok %v", tt.version, err, tt.ok)
		}
	}
	// An answer made after the rollback continues after the rejected offer.
	peer := answerFor(t, o1).Reoffer()
	mustNil(t, n.RemoteOffer(peer))
	a, err := n.Answer(caps(pcmu))
	mustNil(t, err)
	if a.Origin.SessionVersion != hold.Origin.SessionVersion+1 {
		t.Errorf("answer version %d, want %d", a.Origin.SessionVersion, hold.Origin.SessionVersion+1)
	}
	mustNil(t, n.LocalAnswer(a))
}

func TestNegotiationAnswerKeepsPorts(t *testing.T) {
	var n Negotiation
	offer := mustParse(t, offerWith("m=audio 49170 RTP/AVP 0", "m=video 51372 RTP/AVP 31", "m=audio 49180 RTP/AVP 0"))
	mustNil(t, n.RemoteOffer(offer))
	var asked []string
	local := caps(pcmu)
	next := 20000
	local.Ports = func(typ string) int { asked = append(asked, typ); next += 2; return next }
	a, err := n.Answer(local)
	mustNil(t, err)
	mustNil(t, n.LocalAnswer(a))
	if got := []int{a.Media[0].Port, a.Media[1].Port, a.Media[2].Port}; !reflect.DeepEqual(got, []int{20002, 0, 20004}) {
		t.Fatalf("ports %v", got)
	}

	// The peer re-offers, adding a stream; only the new one gets a port.
	re := offer.Reoffer()
	re.AddMedia(Media{Type: "audio", Port: 49190, Proto: "RTP/AVP", Formats: []string{"0"}})
	mustNil(t, n.RemoteOffer(re))
	asked = nil
	a2, err := n.Answer(local)
	mustNil(t, err)
	roundTrip(t, a2)
	if got := []int{a2.Media[0].Port, a2.Media[1].Port, a2.Media[2].Port, a2.Media[3].Port}; !reflect.DeepEqual(got, []int{20002, 0, 20004, 20006}) {
		t.Errorf("ports after re-offer %v", got)
	}
	if !reflect.DeepEqual(asked, []string{"audio"}) {
		t.Errorf("Ports asked for %v, want one audio", asked)
	}
	if a2.Origin.SessionVersion != a.Origin.SessionVersion+1 || a2.Origin.SessionID != a.Origin.SessionID {
		t.Errorf("origin %+v after %+v", a2.Origin, a.Origin)
	}
}
