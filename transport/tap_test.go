package transport

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

// TestTapSentBeforeReply: the tap sees a sent request before the response
// it triggers, over UDP, TCP and WS. The client's tap records an outbound
// event only after a short pause, as a slow (but still non-blocking)
// consumer might; a tap called after the write would then record the
// response, which the echo server answers in far less, first.
func TestTapSentBeforeReply(t *testing.T) {
	for _, n := range []Network{UDP, TCP, WS} {
		t.Run(n.String(), func(t *testing.T) {
			server := newLayer(t)
			echo(server)
			addr := listen(t, server, n, "127.0.0.1:0")
			client := newLayer(t)
			got := collect(client)
			if n == UDP {
				listen(t, client, UDP, "127.0.0.1:0")
			}
			var (
				mu     sync.Mutex
				events []TapEvent
			)
			client.Tap = func(e TapEvent) {
				if e.Direction == Outbound {
					time.Sleep(2 * time.Millisecond)
				}
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}
			const rounds = 30
			for i := range rounds {
				req := newRequest(t, sip.OPTIONS, nil)
				if _, err := client.SendRequest(context.Background(), req, Dest{Network: n, Addr: addr}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, got, 5*time.Second, byCallID(req.CallID()))
				mu.Lock()
				evs := events
				events = nil
				mu.Unlock()
				if len(evs) != 2 || evs[0].Direction != Outbound || evs[1].Direction != Inbound {
					dirs := make([]Direction, len(evs))
					for j, e := range evs {
						dirs[j] = e.Direction
					}
					t.Fatalf("round %d: tapped %v, want [out in]", i, dirs)
				}
				for j, e := range evs {
					m, err := sip.Parse(e.Data)
					if err != nil {
						t.Fatalf("round %d event %d: %v", i, j, err)
					}
					if m.Headers().CallID() != req.CallID() || e.Network != n || e.Remote != addr || e.Time.IsZero() {
						t.Errorf("round %d event %d: %+v", i, j, e)
					}
				}
				if !evs[0].Time.Before(evs[1].Time) {
					t.Errorf("round %d: sent at %v, reply at %v", i, evs[0].Time, evs[1].Time)
				}
			}
		})
	}
}
