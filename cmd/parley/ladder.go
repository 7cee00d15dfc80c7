package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// ladder prints the SIP messages a command sends and receives as a call
// ladder: on short, one line per message (time, direction, request line
// or status and method); on wire, at verbosity 1 one line with the
// transport and both addresses, at 2 the whole message too.
//
// The transport taps a sent message after writing it, so the answer to it
// can be tapped first; the ladder holds a received response, ACK or PRACK
// whose cause it has not printed yet for up to holdFor, so that the lines
// keep the order of events.
type ladder struct {
	short, wire io.Writer
	level       int

	mu    sync.Mutex
	sent  map[string]bool // what the messages printed can be answered by (see causes), bounded
	order []string
	// open holds, by Call-ID, the received non-INVITE requests printed
	// whose final response is not printed yet: a peer sends its next
	// request in the dialog once it has that response, so the next one
	// waits for it.
	open    map[string]map[string]bool
	pending []transport.TapEvent
	timer   *time.Timer
}

const (
	holdFor     = 50 * time.Millisecond
	maxBranches = 256
)

func newLadder(short, wire io.Writer, level int) *ladder {
	if level == 0 {
		wire = nil
	}
	return &ladder{short: short, wire: wire, level: level, sent: make(map[string]bool), open: make(map[string]map[string]bool)}
}

// tap is the transport tap; it never blocks for long (a mutex and a
// write to the terminal).
func (l *ladder) tap(ev transport.TapEvent) {
	if len(strings.TrimSpace(string(ev.Data))) == 0 {
		return // a CRLF keep-alive
	}
	m, err := sip.Parse(ev.Data)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		if !l.ready(ev, m) {
			l.pending = append(l.pending, ev)
			if l.timer == nil {
				l.timer = time.AfterFunc(holdFor, l.flush)
			}
			return
		}
		for _, k := range causes(ev, m) {
			l.remember(k)
		}
	}
	l.print(ev, m)
	// What was just printed may release held messages.
	for released := true; released; {
		released = false
		kept := l.pending[:0]
		for _, p := range l.pending {
			pm, _ := sip.Parse(p.Data)
			if l.ready(p, pm) {
				for _, k := range causes(p, pm) {
					l.remember(k)
				}
				l.print(p, pm)
				released = true
				continue
			}
			kept = append(kept, p)
		}
		l.pending = kept
	}
}

// ready reports whether a message can be printed now: what it answers
// (waitsFor) is printed, and, for a received request other than ACK and
// CANCEL, the earlier received requests of its Call-ID have their final
// responses printed.
func (l *ladder) ready(ev transport.TapEvent, m sip.Message) bool {
	if k := waitsFor(ev, m); k != "" && !l.sent[k] {
		return false
	}
	if req, ok := m.(*sip.Request); ok && ev.Direction == transport.Inbound && req.Method != sip.ACK && req.Method != sip.CANCEL {
		return len(l.open[req.CallID()]) == 0
	}
	return true
}

// track keeps the open set up to date for a message printed.
func (l *ladder) track(ev transport.TapEvent, m sip.Message) {
	switch m := m.(type) {
	case *sip.Request:
		if ev.Direction != transport.Inbound || m.Method == sip.ACK || m.Method == sip.CANCEL || m.Method == sip.INVITE {
			return
		}
		if len(l.open) >= maxBranches {
			clear(l.open)
		}
		cs, _ := m.CSeq()
		set := l.open[m.CallID()]
		if set == nil {
			set = make(map[string]bool)
			l.open[m.CallID()] = set
		}
		set[fmt.Sprintf("%d %s", cs.Seq, cs.Method)] = true
	case *sip.Response:
		if ev.Direction != transport.Outbound || m.StatusCode < 200 {
			return
		}
		cs, _ := m.CSeq()
		if set := l.open[m.CallID()]; set != nil {
			delete(set, fmt.Sprintf("%d %s", cs.Seq, cs.Method))
			if len(set) == 0 {
				delete(l.open, m.CallID())
			}
		}
	}
}

// waitsFor names what a message answers, so that it is printed after it:
// a received response its request (by Via branch), a received ACK the
// final response it acknowledges, a received PRACK the reliable
// provisional (RFC 3262 RAck), a sent response the request it answers.
// "" means nothing.
func waitsFor(ev transport.TapEvent, m sip.Message) string {
	if ev.Direction != transport.Inbound {
		// A response we send follows the request it answers, which may
		// be held itself.
		if res, ok := m.(*sip.Response); ok && res.TopVia() != nil {
			return "q|" + res.TopVia().Branch()
		}
		return ""
	}
	switch m := m.(type) {
	case *sip.Response:
		if v := m.TopVia(); v != nil {
			return "b|" + v.Branch()
		}
	case *sip.Request:
		cs, _ := m.CSeq()
		switch m.Method {
		case sip.ACK:
			return fmt.Sprintf("f|%s|%d", m.CallID(), cs.Seq)
		case sip.PRACK:
			var rseq, seq uint32
			if _, err := fmt.Sscanf(m.Get("RAck"), "%d %d", &rseq, &seq); err == nil {
				return fmt.Sprintf("r|%s|%d|%d", m.CallID(), seq, rseq)
			}
		}
	}
	return ""
}

// causes names what a message printed can be answered by (see waitsFor).
func causes(ev transport.TapEvent, m sip.Message) []string {
	if ev.Direction != transport.Outbound {
		if req, ok := m.(*sip.Request); ok && req.TopVia() != nil {
			return []string{"q|" + req.TopVia().Branch()}
		}
		return nil
	}
	switch m := m.(type) {
	case *sip.Request:
		if v := m.TopVia(); v != nil {
			return []string{"b|" + v.Branch()}
		}
	case *sip.Response:
		cs, _ := m.CSeq()
		if m.StatusCode >= 200 && cs.Method == sip.INVITE {
			return []string{fmt.Sprintf("f|%s|%d", m.CallID(), cs.Seq)}
		}
		var rseq uint32
		if _, err := fmt.Sscanf(m.Get("RSeq"), "%d", &rseq); err == nil {
			return []string{fmt.Sprintf("r|%s|%d|%d", m.CallID(), cs.Seq, rseq)}
		}
	}
	return nil
}

// flush prints the messages held too long, and the rest when the command
// ends.
func (l *ladder) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.pending {
		pm, _ := sip.Parse(p.Data)
		l.print(p, pm)
	}
	l.pending, l.timer = nil, nil
}

func (l *ladder) remember(key string) {
	if l.sent[key] {
		return
	}
	if len(l.order) >= maxBranches {
		delete(l.sent, l.order[0])
		l.order = l.order[1:]
	}
	l.sent[key] = true
	l.order = append(l.order, key)
}

func (l *ladder) print(ev transport.TapEvent, m sip.Message) {
	if m != nil {
		l.track(ev, m)
	}
	arrow := "-->"
	if ev.Direction == transport.Inbound {
		arrow = "<--"
	}
	stamp := ev.Time.Format("15:04:05.000")
	if l.short != nil {
		fmt.Fprintf(l.short, "%s %s %s\n", stamp, arrow, summary(m, ev.Data))
	}
	if l.wire == nil {
		return
	}
	first, rest, _ := strings.Cut(string(ev.Data), "\r\n")
	fmt.Fprintf(l.wire, "%s %-4s %s %s %s  %s\n", stamp, ev.Network, ev.Local, arrow, ev.Remote, first)
	if l.level > 1 {
		for _, line := range strings.Split(strings.TrimRight(rest, "\r\n"), "\r\n") {
			fmt.Fprintf(l.wire, "    %s\n", line)
		}
		fmt.Fprintln(l.wire)
	}
}

// summary is a message's ladder label: "INVITE sip:bob@host" or "180
// Ringing (INVITE)".
func summary(m sip.Message, data []byte) string {
	switch m := m.(type) {
	case *sip.Request:
		return string(m.Method) + " " + m.URI.String()
	case *sip.Response:
		s := fmt.Sprintf("%d %s", m.StatusCode, m.Reason)
		if cs, ok := m.CSeq(); ok {
			s += " (" + string(cs.Method) + ")"
		}
		return s
	}
	first, _, _ := strings.Cut(string(data), "\r\n")
	return first + " (unparsable)"
}
