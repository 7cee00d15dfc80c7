package sip

import "testing"

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
