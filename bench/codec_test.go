package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/parleysip/parley/sip"
)

// fixtures are the messages benchmarked, in report order. Each is a raw
// CRLF SIP message in testdata/<name>.sip.
var fixtures = []string{"invite470", "register", "response3via", "invite1500"}

// Package-level sinks keep the compiler from discarding results. They are
// typed (not `any`) so that storing a string or an integer does not
// allocate and skew allocs/op.
var (
	sinkParley sip.Message
	sinkSipgo  sipgo.Message
	sinkString string
	sinkUint   uint32
	sinkBytes  []byte
)

func loadFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".sip"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// proxyView is what a stateless proxy reads from every message it
// forwards: the top Via branch, the Call-ID and the CSeq.
type proxyView struct {
	branch string
	callID string
	seq    uint32
	method string
}

func parleyView(tb testing.TB, m sip.Message) proxyView {
	tb.Helper()
	h := m.Headers()
	v := h.TopVia()
	if v == nil {
		tb.Fatal("parley: no Via")
	}
	cs, ok := h.CSeq()
	if !ok {
		tb.Fatal("parley: no CSeq")
	}
	return proxyView{v.Branch(), h.CallID(), cs.Seq, string(cs.Method)}
}

func sipgoView(tb testing.TB, m sipgo.Message) proxyView {
	tb.Helper()
	v, cid, cs := m.Via(), m.CallID(), m.CSeq()
	if v == nil || cid == nil || cs == nil {
		tb.Fatalf("sipgo: missing header: via=%v call-id=%v cseq=%v", v, cid, cs)
	}
	branch, _ := v.Params.Get("branch")
	return proxyView{branch, string(*cid), cs.SeqNo, string(cs.MethodName)}
}

// TestFixturesParse checks that every fixture is a valid message for both
// libraries, that they agree on what a proxy reads, and that each
// library's encoding of it parses back to the same values.
func TestFixturesParse(t *testing.T) {
	sizes := map[string][2]int{ // acceptable size range per fixture
		"invite470":  {460, 480},
		"invite1500": {1400, 1600},
	}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			data := loadFixture(t, name)
			if r, ok := sizes[name]; ok && (len(data) < r[0] || len(data) > r[1]) {
				t.Errorf("size %d bytes, want %d..%d", len(data), r[0], r[1])
			}
			if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
				t.Error("bare LF: fixture must use CRLF line endings")
			}

			pm, err := sip.Parse(data)
			if err != nil {
				t.Fatalf("parley: %v", err)
			}
			pv := parleyView(t, pm)
			if pv.branch == "" || pv.callID == "" || pv.seq == 0 {
				t.Fatalf("parley: incomplete view %+v", pv)
			}

			gm, err := sipgo.NewParser().ParseSIP(data)
			if err != nil {
				t.Fatalf("sipgo: %v", err)
			}
			if gv := sipgoView(t, gm); gv != pv {
				t.Errorf("views differ:\nparley %+v\nsipgo  %+v", pv, gv)
			}

			// Bodies agree with Content-Length and with each other.
			if !bytes.Equal(pm.Payload(), gm.Body()) {
				t.Errorf("bodies differ: parley %d bytes, sipgo %d bytes", len(pm.Payload()), len(gm.Body()))
			}
			if cl, ok := pm.Headers().ContentLength(); !ok || cl != len(pm.Payload()) {
				t.Errorf("Content-Length %d (present %v), body %d bytes", cl, ok, len(pm.Payload()))
			}

			// Round trips: what each library encodes, it parses back.
			penc := pm.AppendTo(nil)
			if !bytes.Equal(penc, data) {
				t.Logf("parley re-encoding is not byte-identical (%d vs %d bytes)", len(penc), len(data))
			}
			pm2, err := sip.Parse(penc)
			if err != nil {
				t.Fatalf("parley: re-parse: %v", err)
			}
			if v := parleyView(t, pm2); v != pv {
				t.Errorf("parley round trip: %+v, want %+v", v, pv)
			}
			var gbuf bytes.Buffer
			gm.StringWrite(&gbuf)
			gm2, err := sipgo.NewParser().ParseSIP(gbuf.Bytes())
			if err != nil {
				t.Fatalf("sipgo: re-parse: %v", err)
			}
			if v := sipgoView(t, gm2); v != pv {
				t.Errorf("sipgo round trip: %+v, want %+v", v, pv)
			}
		})
	}
}

// BenchmarkParse measures parsing one datagram into a message and then
// reading the top Via branch, the Call-ID and the CSeq, as a proxy would.
func BenchmarkParse(b *testing.B) {
	b.Run("parley", func(b *testing.B) {
		for _, name := range fixtures {
			data := loadFixture(b, name)
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					m, err := sip.Parse(data)
					if err != nil {
						b.Fatal(err)
					}
					h := m.Headers()
					sinkString = h.TopVia().Branch()
					sinkString = h.CallID()
					cs, _ := h.CSeq()
					sinkUint = cs.Seq
					sinkParley = m
				}
			})
		}
	})
	b.Run("sipgo", func(b *testing.B) {
		for _, name := range fixtures {
			data := loadFixture(b, name)
			b.Run(name, func(b *testing.B) {
				// One parser for the whole run, as a server keeps one.
				p := sipgo.NewParser()
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					m, err := p.ParseSIP(data)
					if err != nil {
						b.Fatal(err)
					}
					sinkString, _ = m.Via().Params.Get("branch")
					sinkString = string(*m.CallID())
					sinkUint = m.CSeq().SeqNo
					sinkSipgo = m
				}
			})
		}
	})
}

// BenchmarkEncode measures writing an already parsed message into a
// reused buffer, the way a transport sends it.
func BenchmarkEncode(b *testing.B) {
	b.Run("parley", func(b *testing.B) {
		for _, name := range fixtures {
			data := loadFixture(b, name)
			b.Run(name, func(b *testing.B) {
				m, err := sip.Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 0, 2*len(data))
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					buf = m.AppendTo(buf[:0])
				}
				sinkBytes = buf
			})
		}
	})
	b.Run("sipgo", func(b *testing.B) {
		for _, name := range fixtures {
			data := loadFixture(b, name)
			b.Run(name, func(b *testing.B) {
				m, err := sipgo.NewParser().ParseSIP(data)
				if err != nil {
					b.Fatal(err)
				}
				// sipgo's own transports (UDPConnection.WriteMsg,
				// TCPConnection.WriteMsg) take a pooled bytes.Buffer,
				// Reset it and call msg.StringWrite(buf): the same here,
				// with one buffer for the whole run.
				var buf bytes.Buffer
				buf.Grow(2 * len(data))
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					buf.Reset()
					m.StringWrite(&buf)
				}
				sinkBytes = buf.Bytes()
			})
		}
	})
}
