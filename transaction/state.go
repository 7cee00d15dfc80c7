package transaction

import (
	"time"

	"github.com/parleysip/parley/sip"
)

// State is a state of one of the four transaction state machines, named as
// in RFC 3261 Figures 5–8 and RFC 6026.
type State uint8

// The states of RFC 3261 §17 and RFC 6026 §7. Which ones a machine uses:
//
//	client INVITE      Calling, Proceeding, Completed, Accepted, Terminated  (Fig. 5, RFC 6026)
//	client non-INVITE  Trying, Proceeding, Completed, Terminated             (Fig. 6)
//	server INVITE      Proceeding, Completed, Confirmed, Accepted, Terminated (Fig. 7, RFC 6026)
//	server non-INVITE  Trying, Proceeding, Completed, Terminated             (Fig. 8)
const (
	// StateNone is the zero State: the machine has not started. It appears
	// only as the From of a transaction's first [Event].
	StateNone State = iota
	StateCalling
	StateTrying
	StateProceeding
	StateCompleted
	StateConfirmed
	StateAccepted
	StateTerminated
)

var stateNames = [...]string{
	StateNone:       "None",
	StateCalling:    "Calling",
	StateTrying:     "Trying",
	StateProceeding: "Proceeding",
	StateCompleted:  "Completed",
	StateConfirmed:  "Confirmed",
	StateAccepted:   "Accepted",
	StateTerminated: "Terminated",
}

// String returns the RFC name of the state, e.g. "Proceeding".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + itoa(int(s)) + ")"
}

// Machine says which of the four state machines a transaction runs.
type Machine uint8

// The four machines of RFC 3261 §17.
const (
	ClientInvite    Machine = iota + 1 // §17.1.1, Figure 5 (as replaced by RFC 6026)
	ClientNonInvite                    // §17.1.2, Figure 6
	ServerInvite                       // §17.2.1, Figure 7 (as replaced by RFC 6026)
	ServerNonInvite                    // §17.2.2, Figure 8
)

var machineNames = [...]string{
	0:               "",
	ClientInvite:    "client INVITE",
	ClientNonInvite: "client non-INVITE",
	ServerInvite:    "server INVITE",
	ServerNonInvite: "server non-INVITE",
}

// String returns e.g. "client INVITE".
func (m Machine) String() string {
	if int(m) < len(machineNames) {
		return machineNames[m]
	}
	return "Machine(" + itoa(int(m)) + ")"
}

// EventKind says what an [Event] reports.
type EventKind uint8

// Kinds of [Event].
const (
	// EventState: the machine moved From one state To another.
	EventState EventKind = iota + 1
	// EventTimer: Timer fired (in state From).
	EventTimer
	// EventRetransmit: Message was passed to the transport again, because
	// Timer fired (A, E, G) or, with TimerNone, because a retransmission
	// of the request or of a final response was received.
	EventRetransmit
	// EventAbsorb: a retransmitted Message was received and absorbed by
	// the transaction (not passed to the TU).
	EventAbsorb
	// EventDrop: a response Message could not be given to the TU because
	// the Responses channel was full; a later retransmission may bring it
	// again.
	EventDrop
	// EventError: sending Message failed with Err. What the machine did
	// about it is reported by the EventState that may follow.
	EventError
)

var eventKindNames = [...]string{
	0:               "",
	EventState:      "state",
	EventTimer:      "timer",
	EventRetransmit: "retransmit",
	EventAbsorb:     "absorb",
	EventDrop:       "drop",
	EventError:      "error",
}

// String returns e.g. "retransmit".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(" + itoa(int(k)) + ")"
}

// Event is what a [Config.Tracer] is given: a state change, a timer that
// fired, a retransmission, an absorbed retransmission, a dropped response
// or a transport error, in the order the transaction saw them.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Key     Key
	Machine Machine
	// From and To are the states before and after (equal unless Kind is
	// EventState).
	From, To State
	// Timer is the timer that fired (EventTimer) or caused the
	// retransmission (EventRetransmit), or TimerNone.
	Timer Timer
	// Message is the message retransmitted, absorbed, dropped or that
	// failed to send; nil otherwise. It must be treated as read-only.
	Message sip.Message
	// Err is the transport error (EventError), or the error the
	// transaction terminated with (EventState to StateTerminated).
	Err error
}

// String returns a one-line summary, e.g.
// "client INVITE z9hG4bKx INVITE: Calling → Proceeding".
func (e Event) String() string {
	s := e.Machine.String() + " " + e.Key.String() + ": "
	switch e.Kind {
	case EventState:
		s += e.From.String() + " → " + e.To.String()
	case EventTimer:
		s += e.Timer.String() + " fired in " + e.From.String()
	case EventRetransmit, EventAbsorb, EventDrop, EventError:
		s += e.Kind.String()
		if e.Timer != TimerNone {
			s += " on " + e.Timer.String()
		}
		if e.Message != nil {
			s += " " + summary(e.Message)
		}
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// summary returns "INVITE" for a request and "180" for a response.
func summary(m sip.Message) string {
	switch m := m.(type) {
	case *sip.Request:
		return string(m.Method)
	case *sip.Response:
		return itoa(int(m.StatusCode))
	}
	return ""
}

// itoa avoids strconv for the few small numbers in names.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
