package dialog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/parleysip/parley/sip"
)

// ID identifies a dialog (§12: "A dialog is identified at each UA with a
// dialog ID, which consists of a Call-ID value, a local tag and a remote
// tag"). It is comparable.
type ID struct {
	CallID, LocalTag, RemoteTag string
}

// State is a dialog's state (§12: early, confirmed; terminated).
type State uint8

// Dialog states.
const (
	Early State = iota + 1
	Confirmed
	Terminated
)

// String returns the state's RFC name: early, confirmed or terminated.
func (s State) String() string {
	switch s {
	case Early:
		return "early"
	case Confirmed:
		return "confirmed"
	case Terminated:
		return "terminated"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Errors of the dialog package.
var (
	// ErrNoTag: a response without a To tag creates no dialog (§12.1).
	ErrNoTag = errors.New("dialog: no To tag: no dialog")
	// ErrNotDialogCreating: not a 101–299 response to a dialog-creating
	// request.
	ErrNotDialogCreating = errors.New("dialog: not a dialog-creating response")
	// ErrOutOfOrder is returned for a request whose CSeq is lower than the
	// remote sequence number; §12.2.2: the UAS "SHOULD reject the request
	// with a 500 (Server Internal Error) response".
	ErrOutOfOrder = errors.New("dialog: CSeq lower than the remote sequence number")
	// ErrTerminated: the dialog has ended.
	ErrTerminated = errors.New("dialog: terminated")
	// ErrNotInDialog: the message does not belong to this dialog.
	ErrNotInDialog = errors.New("dialog: message does not match the dialog")
)

// Dialog is the state of one dialog at one UA (§12). Its methods are safe
// for concurrent use.
type Dialog struct {
	mu sync.Mutex
	id ID
	// owned by mu:
	state        State
	localSeq     uint32
	remoteSeq    uint32
	hasRemoteSeq bool
	localURI     sip.NameAddr // From of our requests, with the local tag
	remoteURI    sip.NameAddr // To of our requests, with the remote tag
	remoteTarget sip.URI
	routeSet     []sip.NameAddr
	secure       bool
	initiator    bool
	acks         map[uint32]chan struct{} // INVITE CSeq -> closed on its ACK
	usages       map[string]struct{}      // RFC 5057 usages sharing the dialog
	onAck        map[uint32][]func()      // INVITE CSeq -> called on its ACK (Await2xx)
}

// createsDialog reports whether method can create a dialog (RFC 3261
// INVITE, RFC 6665 SUBSCRIBE and the NOTIFY that may create one, RFC 3515
// REFER).
func createsDialog(m sip.Method) bool {
	switch m {
	case sip.INVITE, sip.SUBSCRIBE, sip.NOTIFY, sip.REFER:
		return true
	}
	return false
}

// isTargetRefresh reports whether method refreshes the remote target
// (§12.2: INVITE; RFC 3311 UPDATE; RFC 6665 SUBSCRIBE and NOTIFY; RFC 3515
// REFER).
func isTargetRefresh(m sip.Method) bool {
	switch m {
	case sip.INVITE, sip.UPDATE, sip.SUBSCRIBE, sip.NOTIFY, sip.REFER:
		return true
	}
	return false
}

// NewUAC creates the dialog a UAC gets from res, a 1xx (early) or 2xx
// (confirmed) response with a To tag to its request req (§12.1.2): the
// route set is the Record-Route of the response in reverse order, the
// remote target its Contact, the local sequence number the request's CSeq,
// the remote one empty. secure is true when the request was sent over TLS
// with a sips Request-URI (§12.1.2: "If the request was sent over TLS, and
// the Request-URI contained a SIPS URI, the 'secure' flag is set to TRUE").
func NewUAC(req *sip.Request, res *sip.Response, secure bool) (*Dialog, error) {
	to, from, cs, err := creating(req, res)
	if err != nil {
		return nil, err
	}
	d := &Dialog{
		id:        ID{CallID: req.CallID(), LocalTag: from.Tag(), RemoteTag: to.Tag()},
		state:     stateFor(res.StatusCode),
		localSeq:  cs.Seq,
		localURI:  *from,
		remoteURI: *to,
		secure:    secure && req.URI.Secure(),
		initiator: true,
	}
	rr := res.RecordRoutes()
	d.routeSet = make([]sip.NameAddr, len(rr))
	for i := range rr {
		d.routeSet[len(rr)-1-i] = rr[i]
	}
	if cs := res.Contacts(); len(cs) > 0 && !cs[0].Star {
		d.remoteTarget = cs[0].URI
	}
	return d, nil
}

// NewUAS creates the dialog a UAS establishes by sending res, a 1xx or 2xx
// with a To tag, to req (§12.1.1): the route set is the Record-Route of the
// request in order, the remote target its Contact, the remote sequence
// number its CSeq, the local one empty (set on the first request the UAS
// sends).
func NewUAS(req *sip.Request, res *sip.Response, secure bool) (*Dialog, error) {
	to, from, cs, err := creating(req, res)
	if err != nil {
		return nil, err
	}
	d := &Dialog{
		id:           ID{CallID: req.CallID(), LocalTag: to.Tag(), RemoteTag: from.Tag()},
		state:        stateFor(res.StatusCode),
		remoteSeq:    cs.Seq,
		hasRemoteSeq: true,
		localURI:     *to,
		remoteURI:    *from,
		secure:       secure && req.URI.Secure(),
	}
	d.routeSet = append([]sip.NameAddr(nil), req.RecordRoutes()...)
	if cs := req.Contacts(); len(cs) > 0 && !cs[0].Star {
		d.remoteTarget = cs[0].URI
	}
	return d, nil
}

// creating checks that res creates a dialog for req (a 101–299 response
// with a To tag to a dialog-creating method, §12.1) and returns its parts.
func creating(req *sip.Request, res *sip.Response) (to, from *sip.NameAddr, cs sip.CSeq, err error) {
	if !createsDialog(req.Method) || res.StatusCode < 101 || res.StatusCode > 299 {
		return nil, nil, cs, ErrNotDialogCreating
	}
	to, from = res.To(), req.From()
	if to == nil || from == nil || to.Tag() == "" {
		return nil, nil, cs, ErrNoTag
	}
	cs, _ = req.CSeq()
	return to, from, cs, nil
}

func stateFor(code sip.StatusCode) State {
	if code.Success() {
		return Confirmed
	}
	return Early
}

// ID returns the dialog ID.
func (d *Dialog) ID() ID { return d.id }

// State returns the dialog state.
func (d *Dialog) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Initiator reports whether this UA created the dialog as UAC.
func (d *Dialog) Initiator() bool { return d.initiator }

// Secure reports the dialog's secure flag (§12.1).
func (d *Dialog) Secure() bool { return d.secure }

// RemoteTarget returns the current remote target.
func (d *Dialog) RemoteTarget() sip.URI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTarget
}

// RouteSet returns a copy of the route set.
func (d *Dialog) RouteSet() []sip.NameAddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sip.NameAddr(nil), d.routeSet...)
}

// LocalSeq and RemoteSeq return the sequence numbers (§12.1).
func (d *Dialog) LocalSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localSeq
}

// RemoteSeq returns the remote sequence number and whether it is set.
func (d *Dialog) RemoteSeq() (uint32, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteSeq, d.hasRemoteSeq
}

// Terminate ends the dialog (§12.3: BYE, a 481 or 408 to a request in the
// dialog, or the failure of an early dialog).
func (d *Dialog) Terminate() {
	d.mu.Lock()
	d.state = Terminated
	d.mu.Unlock()
}

// NewRequest builds a request within the dialog (§12.2.1.1): To is the
// remote URI with the remote tag, From the local URI with the local tag,
// the Call-ID the dialog's, CSeq the local sequence number plus one (ACK
// and CANCEL are built by the caller with the INVITE's number, see
// NewAck), and the Request-URI and Route set by loose or strict routing.
func (d *Dialog) NewRequest(method sip.Method) (*sip.Request, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Terminated {
		return nil, ErrTerminated
	}
	// §12.2.1.1: "Requests within a dialog MUST contain strictly
	// monotonically increasing and contiguous CSeq sequence numbers
	// (increasing-by-one) in each direction".
	d.localSeq++
	return d.build(method, d.localSeq), nil
}

// NewAck builds the ACK for a 2xx to the INVITE with CSeq number seq
// (§13.2.2.4: "The sequence number of the CSeq header field MUST be the
// same as the INVITE being acknowledged"). It does not change the local
// sequence number.
func (d *Dialog) NewAck(seq uint32) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.build(sip.ACK, seq)
}

func (d *Dialog) build(method sip.Method, seq uint32) *sip.Request {
	uri, routes := d.requestTarget()
	req := sip.NewRequest(method, uri)
	req.SetTo(d.remoteURI)
	req.SetFrom(d.localURI)
	req.SetCallID(d.id.CallID)
	req.SetCSeq(sip.CSeq{Seq: seq, Method: method})
	req.SetMaxForwards(70)
	for _, r := range routes {
		_ = req.Add(string(sip.HeaderRoute), r.String())
	}
	return req
}

// requestTarget applies §12.2.1.1: "If the route set is empty, the UAC
// MUST place the remote target URI into the Request-URI. ... If the route
// set is not empty, and the first URI in the route set contains the lr
// parameter, the UAC MUST place the remote target URI into the
// Request-URI and MUST include a Route header field containing the route
// set values in order. ... If the route set is not empty, and its first
// URI does not contain the lr parameter, the UAC MUST place the first URI
// from the route set into the Request-URI, stripping any parameters that
// are not allowed in a Request-URI. The UAC MUST add a Route header field
// containing the remainder of the route set values in order, including
// all parameters. The UAC MUST then place the remote target URI into the
// Route header field as the last value."
func (d *Dialog) requestTarget() (sip.URI, []sip.NameAddr) {
	if len(d.routeSet) == 0 {
		return d.remoteTarget, nil
	}
	if d.routeSet[0].URI.Params.Has("lr") {
		return d.remoteTarget, d.routeSet
	}
	first := d.routeSet[0].URI
	first.Headers = ""
	first.Params = first.Params.Del("method")
	routes := append(append([]sip.NameAddr(nil), d.routeSet[1:]...), sip.NameAddr{URI: d.remoteTarget})
	return first, routes
}

// AckFor returns a channel closed when the ACK for the INVITE with CSeq
// number seq is received (through ReceiveRequest), for [Retransmit2xx].
func (d *Dialog) AckFor(seq uint32) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.acks == nil {
		d.acks = make(map[uint32]chan struct{})
	}
	ch, ok := d.acks[seq]
	if !ok {
		ch = make(chan struct{})
		d.acks[seq] = ch
	}
	return ch
}

// matches reports whether a request received belongs to the dialog: its
// Call-ID, To tag (our local tag) and From tag (the remote tag).
func (d *Dialog) matchesRequest(req *sip.Request) bool {
	to, from := req.To(), req.From()
	return to != nil && from != nil && req.CallID() == d.id.CallID &&
		to.Tag() == d.id.LocalTag && from.Tag() == d.id.RemoteTag
}

// ReceiveRequest applies a request received within the dialog (§12.2.2):
// the CSeq check against the remote sequence number (ErrOutOfOrder: answer
// 500), its update, and the remote target refresh by a target refresh
// request's Contact. ACK and CANCEL do not touch the sequence number.
func (d *Dialog) ReceiveRequest(req *sip.Request) error {
	acked, err := d.receiveRequest(req)
	for _, f := range acked {
		f() // outside the lock: Await2xx's completion
	}
	return err
}

func (d *Dialog) receiveRequest(req *sip.Request) (acked []func(), err error) {
	if !d.matchesRequest(req) {
		return nil, ErrNotInDialog
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Terminated {
		return nil, ErrTerminated
	}
	cs, _ := req.CSeq()
	if req.Method == sip.ACK {
		// §13.3.1.4: the ACK stops the 2xx retransmissions; its CSeq number
		// is that of the INVITE it acknowledges.
		// A retransmitted ACK (one per retransmitted 2xx, §13.2.2.4)
		// finds the channel closed already.
		if ch, ok := d.acks[cs.Seq]; ok {
			select {
			case <-ch:
			default:
				close(ch)
			}
		} else {
			if d.acks == nil {
				d.acks = make(map[uint32]chan struct{})
			}
			closed := make(chan struct{})
			close(closed)
			d.acks[cs.Seq] = closed
		}
		acked = d.onAck[cs.Seq]
		delete(d.onAck, cs.Seq)
	}
	if req.Method != sip.ACK && req.Method != sip.CANCEL {
		// "If the remote sequence number was not empty, but the sequence
		// number of the request is lower than the remote sequence number,
		// the request is out of order and MUST be rejected with a 500".
		if d.hasRemoteSeq && cs.Seq < d.remoteSeq {
			return nil, ErrOutOfOrder
		}
		d.remoteSeq, d.hasRemoteSeq = cs.Seq, true
	}
	if isTargetRefresh(req.Method) {
		if c := req.Contacts(); len(c) > 0 && !c[0].Star {
			d.remoteTarget = c[0].URI
		}
	}
	if req.Method == sip.BYE {
		d.state = Terminated
	}
	return acked, nil
}

// ReceiveResponse applies a response to a request this UA sent within the
// dialog, or a further response to the dialog-creating request: a 2xx
// confirms an early dialog (§12.1.2, §13.2.2.4), a 2xx to a target refresh
// request refreshes the remote target (§12.2.1.2), and a 481 or 408
// terminates the dialog (§12.2.1.2).
func (d *Dialog) ReceiveResponse(res *sip.Response) error {
	to, from := res.To(), res.From()
	if to == nil || from == nil || res.CallID() != d.id.CallID || from.Tag() != d.id.LocalTag || to.Tag() != d.id.RemoteTag {
		return ErrNotInDialog
	}
	cs, _ := res.CSeq()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case res.StatusCode == sip.StatusCallTransactionDoesNotExist, res.StatusCode == sip.StatusRequestTimeout:
		d.state = Terminated
	case res.StatusCode.Success():
		if d.state == Early && cs.Method == sip.INVITE {
			d.state = Confirmed
		}
		if isTargetRefresh(cs.Method) {
			if c := res.Contacts(); len(c) > 0 && !c[0].Star {
				d.remoteTarget = c[0].URI
			}
		}
	}
	return nil
}

// Confirm moves an early dialog to the confirmed state. A UAS calls it
// when it sends the 2xx to the dialog-creating INVITE after reliable or
// unreliable provisional responses created the dialog early (§12.1.1,
// §13.3.1.4); a UAC confirms through ReceiveResponse.
func (d *Dialog) Confirm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == Early {
		d.state = Confirmed
	}
}

// AddUsage records that a usage (RFC 5057 §3: the INVITE usage, or a
// subscription usage named by its Event package and id) shares the dialog.
func (d *Dialog) AddUsage(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.usages == nil {
		d.usages = make(map[string]struct{})
	}
	d.usages[name] = struct{}{}
}

// RemoveUsage ends one usage. RFC 5057 §5.1: the dialog ends with its last
// usage, so when none is left the dialog is terminated and RemoveUsage
// reports true.
func (d *Dialog) RemoveUsage(name string) (last bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.usages, name)
	if len(d.usages) == 0 {
		d.state = Terminated
		return true
	}
	return false
}

// Usages returns the number of usages sharing the dialog.
func (d *Dialog) Usages() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.usages)
}
