package sdp

import "testing"

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"sip-offer", "multi-media"} {
		var in []byte
		for _, f := range fixtures {
			if f.name == name {
				in = []byte(crlf(f.sdp))
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	s, err := Parse([]byte(crlf(multiMedia)))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(s.Len()))
	for b.Loop() {
		buf = s.AppendTo(buf[:0])
	}
}
