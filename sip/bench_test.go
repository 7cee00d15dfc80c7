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
