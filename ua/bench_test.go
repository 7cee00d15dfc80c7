package ua

import (
	"context"
	"testing"
)

// BenchmarkCallSetup measures one whole call between two UAs over
// loopback UDP: INVITE with SDP, 200 with the answer, ACK, BYE, 200.
func BenchmarkCallSetup(b *testing.B) {
	answered := make(chan *Session, 1)
	callee := newAgentB(b, "bob", func(u *UA) {
		u.OnInvite = func(ctx context.Context, s *Session) {
			s.Media = audio(40002)
			_ = s.Accept()
			answered <- s
		}
	})
	caller := newAgentB(b, "alice", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s := caller.NewCall(callee.uri("bob"), CallOptions{Media: audio(40000), Dest: callee.dest()})
		if err := s.Invite(ctx); err != nil {
			b.Fatal(err)
		}
		bs := <-answered
		if err := s.Bye(ctx, nil); err != nil {
			b.Fatal(err)
		}
		<-bs.Done()
	}
}
