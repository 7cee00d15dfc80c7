package sip

import "testing"

// invite470 is bench/testdata/invite470.sip, the INVITE of issue #3's
// parse target (3x sipgo's speed, at most 1/5 of its allocations).
const invite470 = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK74bf9a3c;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@example.com>;tag=9fxced76\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: a84b4c76e66710@10.0.0.2\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@10.0.0.2>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 150\r\n" +
	"\r\n" +
	"v=0\r\n" +
	"o=- 2890844526 2890844526 IN IP4 10.0.0.2\r\n" +
	"s=-\r\n" +
	"c=IN IP4 10.0.0.2\r\n" +
	"t=0 0\r\n" +
	"m=audio 49170 RTP/AVP 0 8\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n"

// BenchmarkParseInvite470 parses the 470-byte INVITE and reads the top
// Via's branch, as bench's TestInterleavedRatio does.
func BenchmarkParseInvite470(b *testing.B) {
	data := []byte(invite470)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Headers().TopVia().Branch()
	}
}

// BenchmarkHeaderParams compares the one-pass check of a plain parameter
// list with the general one.
func BenchmarkHeaderParams(b *testing.B) {
	const s = ";branch=z9hG4bK74bf9a3c;rport;received=10.0.0.2"
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := plainParams(s); !ok {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			if !validHeaderParamsAny(s) {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := []byte(inviteMsg)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	r := mustParseRequest(b, inviteMsg)
	r.SetMaxForwards(69) // one touched header, as a proxy forwards
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendTo(buf[:0])
	}
}

func BenchmarkReadBranchCallIDCSeq(b *testing.B) {
	r := mustParseRequest(b, inviteMsg)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += len(r.TopVia().Branch()) + len(r.CallID())
		c, _ := r.CSeq()
		n += int(c.Seq)
	}
	_ = n
}

// BenchmarkParseReadTags is what the transaction layer reads of every
// message: branch, Call-ID, CSeq and both tags, From and To undecoded.
func BenchmarkParseReadTags(b *testing.B) {
	data := []byte(inviteMsg)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		h := m.Headers()
		n += len(h.TopVia().Branch()) + len(h.CallID()) + len(h.FromTag()) + len(h.ToTag())
	}
	_ = n
}

// BenchmarkParseDecodeFromToContact adds what a dialog layer reads: the
// From, To and Contact values, decoded on first access.
func BenchmarkParseDecodeFromToContact(b *testing.B) {
	data := []byte(inviteMsg)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		h := m.Headers()
		n += len(h.From().URI.Host) + len(h.To().URI.Host) + len(h.Contacts()[0].URI.Host)
	}
	_ = n
}

// Benchmarks of the scanners the parser spends its time in, one per hot
// header shape of the bench/ fixtures.

func BenchmarkParseVia(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var v Via
		if err := parseVia(&v, "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK74bf9a3c;rport"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNameAddr(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var n NameAddr
		if err := parseNameAddr(&n, "<sip:alice@example.com>;tag=9fxced76"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var u URI
		if err := parseURI(&u, "sip:bob@biloxi.example.com;transport=tcp;lr", true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParamsGet(b *testing.B) {
	p := Params(";branch=z9hG4bK74bf9a3c;rport")
	b.ReportAllocs()
	for b.Loop() {
		if v, ok := p.Get("branch"); !ok || v == "" {
			b.Fatal("no branch")
		}
		if _, ok := p.Get("rport"); !ok {
			b.Fatal("no rport")
		}
	}
}
