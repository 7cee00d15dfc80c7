package location

import (
	"testing"
	"time"

	"github.com/parleysip/parley/transport"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Now()
	in := []Binding{realistic(t, 1, now).compact("sip:a@example.com"), realistic(t, 2, now).compact("sip:a@example.com")}
	in[1].Path, in[1].Flow, in[1].Updated = nil, transport.Flow{}, time.Time{}
	data, err := encodeRecord(7, in)
	if err != nil {
		t.Fatal(err)
	}
	ver, out, err := decodeRecord("sip:a@example.com", data)
	if err != nil || ver != 7 || len(out) != 2 {
		t.Fatalf("decode: %d, %d bindings, %v", ver, len(out), err)
	}
	for i := range in {
		if !in[i].equal(&out[i]) {
			t.Errorf("binding %d:\n got %+v\nwant %+v", i, out[i], in[i])
		}
	}
}

// FuzzDecodeRecord: records come from disk and from other nodes through
// Redis; decoding must fail cleanly, and what decodes must re-encode to the
// same bindings.
func FuzzDecodeRecord(f *testing.F) {
	data, _ := encodeRecord(3, []Binding{realistic(f, 1, time.Unix(1e9, 0))})
	f.Add(data)
	f.Add([]byte(`{"f":1,"v":1,"b":[{"u":"sip:a@b","e":1}]}`))
	f.Add([]byte(`{"f":1,"b":[{"u":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ver, bs, err := decodeRecord("sip:x@example.com", data)
		if err != nil {
			return
		}
		again, err := encodeRecord(ver, bs)
		if err != nil {
			t.Fatal(err)
		}
		ver2, bs2, err := decodeRecord("sip:x@example.com", again)
		if err != nil || ver2 != ver || len(bs2) != len(bs) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
