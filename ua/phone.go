package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/parleysip/parley/dialog"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// Phone is a simple user agent that places and answers audio calls with
// G.711 µ-law RTP. It is a [UA] with media attached: everything a Session
// does (PRACK, re-INVITE and UPDATE answered — hold moves the RTP — INFO,
// MESSAGE, the 2xx retransmission and re-ACK rules) applies to its calls.
// It is what `parley call` and `parley answer` run.
//
// Install it with Attach before the Server listens.
type Phone struct {
	// Server receives requests; Client sends them from the same addresses.
	Server *stack.Server
	Client *stack.Client
	// Identity is who the phone is; its Contact must be reachable.
	Identity Identity
	// MediaIP is where RTP is received.
	MediaIP netip.Addr
	// Echo makes answered calls send back what they receive instead of a
	// tone.
	Echo bool
	// OnEvent, if set, is told of each message sent and received (the
	// call ladder): "--> INVITE sip:bob@…", "<-- 180 Ringing".
	OnEvent func(string)
	// OnCall, if set, is given each answered incoming call.
	OnCall func(*Call)
	// AnswerDelay is how long an incoming call rings (180) before the 200.
	AnswerDelay time.Duration
	// EarlyMedia sends 183 Session Progress with the SDP answer before the
	// 200 (reliably, PRACKed, when the caller supports 100rel).
	EarlyMedia bool
	// UA, if set before Attach, is the user agent used (configure Timers,
	// Disable100rel, OnMessage, OnInfo, capabilities on it); nil means a
	// new one. Attach sets its Server, Client, Identity and OnInvite.
	UA *UA
}

// Call is one call of a Phone.
type Call struct {
	// Dialog is the call's dialog.
	Dialog *dialog.Dialog
	// Media is the RTP stream.
	Media *Media
	// Session is the call's session (re-INVITE, UPDATE, INFO, MESSAGE…).
	Session *Session
	phone   *Phone
	started bool
}

// Done is closed when the call has ended (BYE sent or received).
func (c *Call) Done() <-chan struct{} { return c.Session.Done() }

// Hangup sends BYE (§15.1.1) and ends the call.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.Media.Stop()
	return c.Session.Bye(ctx, nil)
}

func (p *Phone) event(format string, a ...any) {
	if p.OnEvent != nil {
		p.OnEvent(fmt.Sprintf(format, a...))
	}
}

// tap turns the messages on the wire into ladder lines.
func (p *Phone) tap(next func(transport.TapEvent)) func(transport.TapEvent) {
	return func(ev transport.TapEvent) {
		if next != nil {
			next(ev)
		}
		m, err := sip.Parse(ev.Data)
		if err != nil {
			return
		}
		dir := "<--"
		if ev.Direction == transport.Outbound {
			dir = "-->"
		}
		switch m := m.(type) {
		case *sip.Request:
			if dir == "-->" {
				p.event("%s %s %s", dir, m.Method, m.URI.String())
			} else if f := m.From(); f != nil {
				p.event("%s %s from %s", dir, m.Method, f.URI.String())
			}
		case *sip.Response:
			cs, _ := m.CSeq()
			if cs.Method == sip.INVITE {
				p.event("%s %d %s", dir, m.StatusCode, m.Reason)
			} else {
				p.event("%s %d %s (%s)", dir, m.StatusCode, m.Reason, cs.Method)
			}
		}
	}
}

// Attach creates the phone's UA and installs it on the Server.
func (p *Phone) Attach() {
	if p.UA == nil {
		p.UA = &UA{}
	}
	u := p.UA
	u.Server, u.Client, u.Identity = p.Server, p.Client, p.Identity
	u.OnInvite = p.answer
	if p.OnEvent != nil {
		p.Server.Tap = p.tap(p.Server.Tap)
	}
	u.Attach()
}

// Close stops the phone's background work.
func (p *Phone) Close() {
	if p.UA != nil {
		p.UA.Close()
	}
}

func (p *Phone) capabilities(m *Media) sdp.Capabilities {
	return sdp.Capabilities{
		Username: "parley",
		Address:  p.MediaIP,
		Ports:    func(string) int { return m.LocalPort() },
		Media: []sdp.MediaCapability{{Type: "audio", PTime: 20 * time.Millisecond,
			Codecs: []sdp.Codec{{PayloadType: PCMU, Name: "PCMU", ClockRate: 8000}}}},
	}
}

// remoteMedia finds the RTP address and payload type of the first active
// audio stream of s.
func remoteMedia(s *sdp.Session) (netip.AddrPort, uint8, error) {
	for i := range s.Media {
		m := &s.Media[i]
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		c := s.MediaConnection(m)
		if c == nil {
			break
		}
		a, ok := c.Addr()
		if !ok {
			break
		}
		pt := uint8(0)
		if cs := m.Codecs(); len(cs) > 0 {
			pt = uint8(cs[0].PayloadType)
		}
		return netip.AddrPortFrom(a, uint16(m.Port)), pt, nil
	}
	return netip.AddrPort{}, 0, errors.New("ua: no usable audio stream in the SDP")
}

// attachMedia makes the call's RTP follow its offer/answer exchanges.
func (c *Call) attachMedia(s *Session) {
	var mu sync.Mutex
	s.OnMedia = func(_, remote *sdp.Session) {
		addr, pt, err := remoteMedia(remote)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !c.started {
			c.started = true
			c.Media.Start(addr, pt)
			return
		}
		c.Media.SetRemote(addr)
	}
}

// stopWhenDone stops the RTP when the session ends.
func (c *Call) stopWhenDone(u *UA) {
	u.goBackground(func(ctx context.Context) {
		select {
		case <-c.Session.Done():
		case <-ctx.Done():
		}
		c.Media.Stop()
	})
}

// Dial calls target through d and returns once the call is answered and
// acknowledged, or with the failure.
func (p *Phone) Dial(ctx context.Context, target sip.URI, d transport.Dest) (*Call, error) {
	media, err := ListenMedia(p.MediaIP)
	if err != nil {
		return nil, err
	}
	c := &Call{Media: media, phone: p}
	s := p.UA.NewCall(target, CallOptions{Media: p.capabilities(media), Dest: &d})
	c.Session = s
	c.attachMedia(s)
	if err := s.Invite(ctx); err != nil {
		media.Stop()
		return nil, err
	}
	c.Dialog = s.Dialog()
	c.stopWhenDone(p.UA)
	return c, nil
}

// answer is the phone's OnInvite: ring, optionally early media, answer.
func (p *Phone) answer(ctx context.Context, s *Session) {
	media, err := ListenMedia(p.MediaIP)
	if err != nil {
		_ = s.Reject(sip.StatusServerInternalError)
		return
	}
	media.Echo = p.Echo
	c := &Call{Media: media, Session: s, phone: p}
	s.Media = p.capabilities(media)
	c.attachMedia(s)
	fail := func(code sip.StatusCode) {
		_ = s.Reject(code)
		media.Stop()
	}
	if offer := s.RemoteOffer(); offer != nil {
		if _, err := sdp.Answer(offer, s.Media); err != nil {
			fail(sip.StatusNotAcceptableHere)
			return
		}
	}
	if err := s.Progress(ctx, sip.StatusRinging, false); err != nil {
		fail(sip.StatusServerInternalError)
		return
	}
	if p.EarlyMedia {
		if err := s.Progress(ctx, sip.StatusSessionProgress, true); err != nil {
			fail(sip.StatusServerInternalError)
			return
		}
	}
	if p.AnswerDelay > 0 {
		t := time.NewTimer(p.AnswerDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			media.Stop()
			return
		}
	}
	if err := s.Accept(); err != nil {
		media.Stop()
		return
	}
	c.Dialog = s.Dialog()
	c.stopWhenDone(p.UA)
	if p.OnCall != nil {
		p.OnCall(c)
	}
}
