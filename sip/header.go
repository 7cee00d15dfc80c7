package sip

import (
	"iter"
	"strconv"
	"strings"
	"unsafe"

	"github.com/parleysip/parley/internal/abnf"
)

//go:generate go run ../internal/gen/main.go ../internal/gen/headers.tsv zheaders.go

// HeaderName is a header field name in its canonical spelling, e.g.
// "Call-ID" or "WWW-Authenticate". The Header* constants come from the one
// header table, internal/gen/headers.tsv.
type HeaderName string

type hdrID uint8

type hdrKind uint8

const (
	kindSingle hdrKind = iota // one value per message
	kindList                  // comma-separated list, may span lines (§7.3.1)
	kindMulti                 // may repeat, never split at commas (credentials)
)

type hdrInfo struct {
	name    HeaderName
	compact byte
	kind    hdrKind
	hot     bool
	rfc     string
}

// CanonicalHeaderName returns the canonical spelling of a header name given
// in any case or in compact form ("i" → "Call-ID"), or name unchanged when
// it is not in Parley's header table.
func CanonicalHeaderName(name string) string {
	if id := lookupHeader(name); id != hdrUnknown {
		return string(hdrTable[id].name)
	}
	return name
}

// CompactForm returns the compact form of a header (§7.3.3), or 0.
func CompactForm(name string) byte {
	return hdrTable[lookupHeader(name)].compact
}

// field is one header value in message order. It holds no pointers: a
// parsed field is a set of offsets into the message text (Header.src); a
// field set or added later keeps its name and value in Header.extra. It is
// 16 bytes so that the inline array of them stays small.
type field struct {
	id  hdrID
	grp uint8 // non-zero: one of several values that shared one line
	// flags: fOwn, the name and value are extra[a] and extra[a+1]; fTyped,
	// the value is the header's typed value (the k-th Via, Route,
	// Record-Route or Contact for the k-th such field; From, To, CSeq,
	// Max-Forwards, Content-Length), encoded straight into the output when
	// the message is written, so that a change makes no string.
	flags uint8
	// tail is how far the line as received runs past the value (trailing
	// white space, or the rest of a line of several values). A line that
	// runs on further is not kept: the field is written as "Name: value".
	tail uint8
	// For a parsed field: the line as received starts at src[a] (the name
	// runs to the colon) and ends tail bytes after the value src[c:d].
	// grp == lostLine: the field no longer matches its line.
	a, c, d uint32
}

const (
	fOwn uint8 = 1 << iota
	fTyped
)

// maxTail bounds field.tail.
const maxTail = 255

func (f *field) own() bool   { return f.flags&fOwn != 0 }
func (f *field) typed() bool { return f.flags&fTyped != 0 }

func (h *Header) fname(f *field) string {
	if f.typed() {
		return ""
	}
	if f.own() {
		return h.extra[f.a]
	}
	return parsedName(h.src[f.a:])
}

// parsedName returns the header name at the start of line: up to the
// colon, without the white space before it.
func parsedName(line string) string {
	i := strings.IndexByte(line, ':')
	if i < 0 {
		i = len(line)
	}
	for i > 0 && abnf.IsWS(line[i-1]) {
		i--
	}
	return line[:i]
}

func (h *Header) fvalue(f *field) string {
	if f.typed() {
		return string(h.appendTyped(nil, f, h.ordinal(f)))
	}
	if f.own() {
		return h.extra[f.a+1]
	}
	return h.src[f.c:f.d]
}

// fline returns the line as received, or "" when the field must be
// re-encoded.
func (h *Header) fline(f *field) string {
	if f.flags != 0 || f.grp == lostLine {
		return ""
	}
	return h.src[f.a : f.d+uint32(f.tail)]
}

// lostLine in grp marks a parsed field that no longer matches its line:
// it is written as "Name: value".
const lostLine = 255

func (h *Header) canonicalName(f *field) string {
	if f.id != hdrUnknown {
		return string(hdrTable[f.id].name)
	}
	return h.fname(f)
}

// offset returns the position of sub within h.src; sub must be a substring
// of it (the parser only hands out such substrings).
func (h *Header) offset(sub string) uint32 {
	if len(sub) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(sub))) - uintptr(unsafe.Pointer(unsafe.StringData(h.src))))
}

// rawField makes a field from substrings of h.src: the value and the line
// it is on.
func (h *Header) rawField(id hdrID, grp uint8, value, line string) field {
	f := field{id: id, grp: grp, a: h.offset(line)}
	f.c = h.offset(value)
	if value == "" {
		// An empty value sits at the end of the line.
		f.c = f.a + uint32(len(line))
	}
	f.d = f.c + uint32(len(value))
	f.setTail(f.a + uint32(len(line)))
	return f
}

// setTail records that the field's line ends at e, or that the field does
// not keep its line when that is too far past the value.
func (f *field) setTail(e uint32) {
	if e-f.d < maxTail {
		f.tail = uint8(e - f.d)
	} else {
		f.grp = lostLine
	}
}

// appendRaw appends a field made from substrings of h.src, as rawField,
// writing it in place (building it on the stack and copying it costs a
// stalled 16-byte load).
func (h *Header) appendRaw(id hdrID, value, line string) {
	h.fields = append(h.fields, field{})
	f := &h.fields[len(h.fields)-1]
	f.id = id
	f.a = h.offset(line)
	c := h.offset(value)
	if value == "" {
		c = f.a + uint32(len(line))
	}
	f.c, f.d = c, c+uint32(len(value))
	f.setTail(f.a + uint32(len(line)))
}

// ownField makes a field whose name and value are stored in h.extra.
func (h *Header) ownField(id hdrID, name, value string) field {
	if h.extra == nil {
		h.extra = make([]string, 0, 8)
	}
	h.extra = append(h.extra, name, value)
	return field{id: id, flags: fOwn, a: uint32(len(h.extra) - 2)}
}

// typedField makes a field whose value is the header's typed value.
func typedField(id hdrID) field { return field{id: id, flags: fTyped} }

// ordinal returns how many fields with f's id come before f.
func (h *Header) ordinal(f *field) int {
	k := 0
	for i := range h.fields {
		if &h.fields[i] == f {
			return k
		}
		if h.fields[i].id == f.id {
			k++
		}
	}
	return k
}

// appendTyped encodes the typed value of f, the k-th field of its header.
func (h *Header) appendTyped(b []byte, f *field, k int) []byte {
	switch f.id {
	case hdrVia:
		if k < len(h.via) {
			return h.via[k].AppendTo(b)
		}
	case hdrRoute:
		if k < len(h.route) {
			return h.route[k].AppendTo(b)
		}
	case hdrRecordRoute:
		if k < len(h.rr) {
			return h.rr[k].AppendTo(b)
		}
	case hdrContact:
		if cs := h.Contacts(); k < len(cs) {
			return cs[k].AppendTo(b)
		}
	case hdrFrom:
		return h.from.appendTo(b)
	case hdrTo:
		return h.to.appendTo(b)
	case hdrCSeq:
		return h.cseq.AppendTo(b)
	case hdrMaxForwards:
		return strconv.AppendInt(b, int64(max(h.maxForwards, 0)), 10)
	case hdrContentLength:
		return strconv.AppendInt(b, int64(max(h.contentLength, 0)), 10)
	}
	return b
}

// typedLen is len(appendTyped(nil, f, k)) without encoding.
func (h *Header) typedLen(f *field, k int) int {
	switch f.id {
	case hdrVia:
		if k < len(h.via) {
			return h.via[k].Len()
		}
	case hdrRoute:
		if k < len(h.route) {
			return h.route[k].Len()
		}
	case hdrRecordRoute:
		if k < len(h.rr) {
			return h.rr[k].Len()
		}
	case hdrContact:
		if cs := h.Contacts(); k < len(cs) {
			return cs[k].Len()
		}
	case hdrFrom:
		return h.from.wireLen()
	case hdrTo:
		return h.to.wireLen()
	case hdrCSeq:
		return decLen(uint64(h.cseq.Seq)) + 1 + len(h.cseq.Method)
	case hdrMaxForwards:
		return decLen(uint64(max(h.maxForwards, 0)))
	case hdrContentLength:
		return decLen(uint64(max(h.contentLength, 0)))
	}
	return 0
}

// setTyped makes the single field with id typed (adding it at the end when
// absent) after its typed value has been updated.
func (h *Header) setTyped(id hdrID) {
	h.lazyInit()
	if i := h.nth(id, 0); i >= 0 {
		h.ungroup(h.fields[i].grp)
		h.fields[i] = typedField(id)
		return
	}
	h.fields = append(h.fields, typedField(id))
}

// setValue replaces a field's value; the field is re-encoded from then on.
func (h *Header) setValue(f *field, value string) {
	name := h.fname(f)
	*f = h.ownField(f.id, name, value)
}

// Header is the header section of a SIP message: every field in the order
// received, plus typed values of the headers a transaction, dialog or
// proxy reads on every message (Via, From, To, Call-ID, CSeq,
// Max-Forwards, Route, Record-Route, Contact, Content-Length,
// Content-Type), checked by the parser and decoded once (From, To and
// Contact on first access). Any other header is kept as written and parsed
// on typed access.
//
// Typed accessors return pointers into the message: treat them as
// read-only and change headers with the Set/Add/Prepend/Remove methods,
// which keep the typed values and the wire form in step. An untouched field
// is written back byte for byte (folded lines are unfolded in place, a
// change RFC 3261 §7.3.1 allows).
//
// A Header must not be copied after first use; use Clone on the message.
type Header struct {
	// src is the message text the parsed fields point into ("" for a
	// message built from scratch); extra holds names and values set later.
	src    string
	extra  []string
	fields []field

	via   []Via
	route []NameAddr
	rr    []NameAddr
	// from and to are decoded on first access; set holds values set
	// through the API (nil until then for a parsed message).
	from, to    lazyAddr
	set         *addrPair
	callID      string
	cseq        CSeq
	contentType string
	// contentLength and maxForwards are -1 when the header is absent.
	contentLength int32
	maxForwards   int16
	has           uint8
	nextGrp       uint8
	// lazy has lazyContact while the Contact values of a parsed message
	// are decoded on demand: they were validated by the parser, and the
	// first call of Contacts decodes them from their fields into cbox.
	// Without lazyContact, cbox holds the Contact values (nil: none). A
	// box is never changed once stored: a change of the Contact values
	// stores a new one (so copies of a message may share it).
	lazy uint8
	cbox ptr[contactBox]

	// Inline storage for what nearly every message has: one Via. Further
	// Vias, Route and Record-Route get storage when they appear: keeping
	// the struct small (an allocation size class) costs less than the
	// allocation they need. The fields live in the message's allocation
	// too, after the struct, as much room as the message needs (see
	// newRequest and NewRequest).
	viaArr [1]Via
}

// lazyContact in Header.lazy: the Contact values are decoded on demand.
const lazyContact uint8 = 1

// contactBox holds lazily decoded Contact values; one (the common case)
// fits in the same allocation.
type contactBox struct {
	s   []Contact
	one [1]Contact
}

const (
	hasFrom uint8 = 1 << iota
	hasTo
	hasCallID
	hasCSeq
	hasContentType
)

// init readies a zero Header; fields is the storage for its fields (any
// length, used from 0), or nil for none yet.
func (h *Header) init(fields []field) {
	if fields == nil {
		// Not nil: lazyInit tells an initialised Header by it.
		fields = make([]field, 0)
	}
	h.fields = fields[:0]
	h.via = h.viaArr[:0]
	h.maxForwards = -1
	h.contentLength = -1
}

func (h *Header) lazyInit() {
	if h.fields == nil {
		h.init(nil)
	}
}

// Vias returns the Via values, topmost first (read-only).
func (h *Header) Vias() []Via { return h.via }

// TopVia returns the topmost Via value, or nil (read-only).
func (h *Header) TopVia() *Via {
	if len(h.via) == 0 {
		return nil
	}
	return &h.via[0]
}

// From returns the From value, or nil when absent (read-only).
func (h *Header) From() *NameAddr {
	if h.has&hasFrom == 0 {
		return nil
	}
	return h.from.get()
}

// To returns the To value, or nil when absent (read-only).
func (h *Header) To() *NameAddr {
	if h.has&hasTo == 0 {
		return nil
	}
	return h.to.get()
}

// FromTag returns the From tag (§19.3), or "", without decoding From.
func (h *Header) FromTag() string { return h.from.tag }

// ToTag returns the To tag (§19.3), or "", without decoding To.
func (h *Header) ToTag() string { return h.to.tag }

// CallID returns the Call-ID, or "".
func (h *Header) CallID() string { return h.callID }

// CSeq returns the CSeq value and whether the message has one.
func (h *Header) CSeq() (CSeq, bool) { return h.cseq, h.has&hasCSeq != 0 }

// MaxForwards returns the Max-Forwards value and whether it is present
// and within 0–255. RFC 4475 §3.1.2.4 lets an element treat an overlarge
// value as absent, which is what this reports.
func (h *Header) MaxForwards() (int, bool) { return int(h.maxForwards), h.maxForwards >= 0 }

// ContentLength returns the Content-Length value and whether it is present.
func (h *Header) ContentLength() (int, bool) { return int(h.contentLength), h.contentLength >= 0 }

// ContentType returns the Content-Type value as written, or "".
func (h *Header) ContentType() string { return h.contentType }

// Routes returns the Route values in order (read-only).
func (h *Header) Routes() []NameAddr { return h.route }

// RecordRoutes returns the Record-Route values in order (read-only).
func (h *Header) RecordRoutes() []NameAddr { return h.rr }

// Contacts returns the Contact values in order (read-only). Those of a
// parsed message are decoded on the first call (the parser only checks
// them); concurrent calls are safe and return the same values.
func (h *Header) Contacts() []Contact {
	if h.lazy&lazyContact == 0 {
		if b := h.cbox.Load(); b != nil {
			return b.s
		}
		return nil
	}
	return h.lazyContacts()
}

// lazyContacts returns the decoded Contact values of a parsed message,
// decoding them once. Several goroutines may race here: each decodes, and
// the first to publish its values wins.
func (h *Header) lazyContacts() []Contact {
	if b := h.cbox.Load(); b != nil {
		return b.s
	}
	b := h.decodeContacts()
	if !h.cbox.CompareAndSwap(nil, b) {
		b = h.cbox.Load()
	}
	return b.s
}

// decodeContacts parses the value of every Contact field. The parser
// validated each one, so none fails.
func (h *Header) decodeContacts() *contactBox {
	b := new(contactBox)
	n := 0
	for i := range h.fields {
		if h.fields[i].id == hdrContact {
			n++
		}
	}
	if n <= len(b.one) {
		b.s = b.one[:0:n]
	} else {
		b.s = make([]Contact, 0, n)
	}
	for i := range h.fields {
		f := &h.fields[i]
		if f.id != hdrContact {
			continue
		}
		b.s = append(b.s, Contact{})
		if err := parseContact(&b.s[len(b.s)-1], h.fvalue(f)); err != nil {
			// Unreachable: only validated values have a field.
			b.s[len(b.s)-1] = Contact{}
		}
	}
	return b
}

// copyContacts returns a copy of the Contact values (decoded from the
// fields as they are now), with room for extra more, for a change.
func (h *Header) copyContacts(extra int) []Contact {
	cur := h.Contacts()
	return append(make([]Contact, 0, len(cur)+extra), cur...)
}

// storeContacts makes cs the Contact values; cs is not changed afterwards.
func (h *Header) storeContacts(cs []Contact) {
	h.lazy &^= lazyContact
	if len(cs) == 0 {
		h.cbox.Store(nil)
		return
	}
	h.cbox.Store(&contactBox{s: cs})
}

// Get returns the value of the first field called name (any case or
// compact form), as written, or "". For a comma-separated list written on
// one line, that is the whole line's value; use [Header.Values] to split.
func (h *Header) Get(name string) string {
	id := lookupHeader(name)
	for i := range h.fields {
		if h.matches(&h.fields[i], id, name) {
			return h.fvalue(&h.fields[i])
		}
	}
	return ""
}

// Has reports whether a field called name is present.
func (h *Header) Has(name string) bool {
	id := lookupHeader(name)
	for i := range h.fields {
		if h.matches(&h.fields[i], id, name) {
			return true
		}
	}
	return false
}

func (h *Header) matches(f *field, id hdrID, name string) bool {
	if id != hdrUnknown {
		return f.id == id
	}
	return f.id == hdrUnknown && abnf.EqualFold(h.fname(f), name)
}

// Values yields every value of the header called name in order. Values of
// list headers (Allow, Supported, Via...) are split at commas that are not
// inside quotes or angle brackets (§7.3.1); other headers yield each
// field's value whole.
func (h *Header) Values(name string) iter.Seq[string] {
	id := lookupHeader(name)
	list := hdrTable[id].kind == kindList
	return func(yield func(string) bool) {
		for i := range h.fields {
			f := &h.fields[i]
			if !h.matches(f, id, name) {
				continue
			}
			if !list {
				if !yield(h.fvalue(f)) {
					return
				}
				continue
			}
			for v := range splitList(h.fvalue(f)) {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// All yields each field's canonical name and value in message order.
func (h *Header) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := range h.fields {
			if !yield(h.canonicalName(&h.fields[i]), h.fvalue(&h.fields[i])) {
				return
			}
		}
	}
}

// Count returns the number of header fields (list values split from one line
// count one each for the typed headers).
func (h *Header) Count() int { return len(h.fields) }

// splitList yields the comma-separated elements of a list value, skipping
// empty ones, honouring quoted strings and <...>.
func splitList(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			end := listElemEnd(s)
			v := abnf.TrimWS(s[:end])
			if v != "" && !yield(v) {
				return
			}
			if end >= len(s) {
				return
			}
			s = s[end+1:]
		}
	}
}

// listElemEnd returns the index of the comma that ends the first element
// of s (len(s) if none).
func listElemEnd(s string) int {
	if strings.IndexByte(s, ',') < 0 {
		return len(s)
	}
	angle := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			end, ok := abnf.QuotedString(s, i)
			if !ok {
				return len(s)
			}
			i = end - 1
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !angle {
				return i
			}
		}
	}
	return len(s)
}

// Add appends a header field. For a typed header the value is parsed first
// and an error returned if it is malformed; a list value may hold several
// comma-separated values.
func (h *Header) Add(name, value string) error {
	h.lazyInit()
	id := lookupHeader(name)
	value = abnf.TrimWS(value)
	if id != hdrUnknown && hdrTable[id].hot {
		return h.addTyped(id, name, value, "", len(h.fields))
	}
	if id == hdrUnknown && !abnf.IsTokenString(name) {
		return errHeader("bad header name")
	}
	h.fields = append(h.fields, h.ownField(id, name, value))
	return nil
}

// Set replaces every field called name with one field holding value, at
// the position of the first one (or at the end).
func (h *Header) Set(name, value string) error {
	h.lazyInit()
	id := lookupHeader(name)
	pos := -1
	for i := range h.fields {
		if h.matches(&h.fields[i], id, name) {
			pos = i
			break
		}
	}
	if pos < 0 {
		return h.Add(name, value)
	}
	// Validate a typed value before removing anything.
	if id != hdrUnknown && hdrTable[id].hot {
		var tmp Header
		tmp.init(nil)
		if err := tmp.addTyped(id, name, abnf.TrimWS(value), "", 0); err != nil {
			return err
		}
	}
	h.Del(name)
	if id != hdrUnknown && hdrTable[id].hot {
		return h.addTyped(id, name, abnf.TrimWS(value), "", pos)
	}
	h.insertField(pos, h.ownField(id, name, abnf.TrimWS(value)))
	return nil
}

// Del removes every field called name.
func (h *Header) Del(name string) {
	id := lookupHeader(name)
	out := h.fields[:0]
	for i := range h.fields {
		if h.matches(&h.fields[i], id, name) {
			h.ungroup(h.fields[i].grp)
			continue
		}
		out = append(out, h.fields[i])
	}
	for i := len(out); i < len(h.fields); i++ {
		h.fields[i] = field{}
	}
	h.fields = out
	switch id {
	case hdrVia:
		h.via = h.via[:0]
	case hdrRoute:
		h.route = h.route[:0]
	case hdrRecordRoute:
		h.rr = h.rr[:0]
	case hdrContact:
		// Nothing left to decode.
		h.storeContacts(nil)
	case hdrFrom:
		h.from.reset()
		h.has &^= hasFrom
	case hdrTo:
		h.to.reset()
		h.has &^= hasTo
	case hdrCallID:
		h.callID, h.has = "", h.has&^hasCallID
	case hdrCSeq:
		h.cseq, h.has = CSeq{}, h.has&^hasCSeq
	case hdrMaxForwards:
		h.maxForwards = -1
	case hdrContentLength:
		h.contentLength = -1
	case hdrContentType:
		h.contentType, h.has = "", h.has&^hasContentType
	}
}

// ungroup detaches the other values that shared a line with a value being
// changed, so that each is written on its own from then on.
func (h *Header) ungroup(g uint8) {
	if g == 0 || g == lostLine {
		return
	}
	for i := range h.fields {
		if f := &h.fields[i]; f.grp == g {
			f.grp = lostLine
		}
	}
}

func (h *Header) insertField(pos int, f field) {
	if pos == len(h.fields) {
		h.fields = append(h.fields, f)
		return
	}
	h.fields = append(h.fields, field{})
	copy(h.fields[pos+1:], h.fields[pos:])
	h.fields[pos] = f
}

// nth returns the index in fields of the k-th field with id, or -1.
func (h *Header) nth(id hdrID, k int) int {
	for i := range h.fields {
		if h.fields[i].id == id {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}

// errDuplicate marks a second value of a single-value header (RFC 4475
// §3.3.8).
var errDuplicate = errHeader("more than one value for a single-value header")

// addTyped parses value as header id and inserts it (all its list elements)
// at field position pos. line is the raw line for a parsed field.
func (h *Header) addTyped(id hdrID, name, value, line string, pos int) error {
	if hdrTable[id].kind == kindList {
		// Count elements first: a parsed line with several values becomes a
		// group that is written back as the one original line.
		var grp uint8
		split := line != "" && strings.IndexByte(value, ',') >= 0 && listElemEnd(value) < len(value)
		// A group is written back as its line from the first value's
		// field, whose tail must reach the end of the line.
		if split && h.nextGrp < lostLine-1 && len(line) < maxTail {
			h.nextGrp++
			grp = h.nextGrp
		}
		empty := true
		for v := range splitListStrict(value) {
			if v == "" {
				return errHeader("empty list element")
			}
			empty = false
			k := 0 // index among same-id fields before pos
			for i := 0; i < pos; i++ {
				if h.fields[i].id == id {
					k++
				}
			}
			if err := h.insertTyped(id, k, v, line != ""); err != nil {
				// A Via whose sent-by parsed is kept (with the line as
				// received) so that a 400 can still be routed back and echo
				// it (RFC 4475 §3.1.2.1).
				if id == hdrVia && len(h.via) > k && h.via[k].Host != "" {
					h.insertField(pos, h.newField(id, grp, split, name, v, line))
				}
				return err
			}
			h.insertField(pos, h.newField(id, grp, split, name, v, line))
			pos++
		}
		if empty {
			return errHeader("empty value")
		}
		return nil
	}
	if err := h.setSingle(id, value); err != nil {
		return err
	}
	h.insertField(pos, h.newField(id, 0, false, name, value, line))
	return nil
}

// newField makes the field for one value: raw offsets when it comes from
// the parsed text (line != ""), owned strings otherwise. A value split from
// a line that could not get a group number loses its line.
func (h *Header) newField(id hdrID, grp uint8, split bool, name, value, line string) field {
	if line == "" {
		return h.ownField(id, name, value)
	}
	f := h.rawField(id, grp, value, line)
	if split && grp == 0 {
		f.grp = lostLine
	}
	return f
}

// splitListStrict yields every comma-separated element, empty ones
// included, so that "a,,b" is caught as malformed (RFC 4475 §3.1.2.1).
func splitListStrict(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for {
			end := listElemEnd(s)
			if !yield(abnf.TrimWS(s[:end])) || end >= len(s) {
				return
			}
			s = s[end+1:]
		}
	}
}

// insertTyped parses v and inserts it as the k-th value of header id;
// parsed (the parser's call) only checks a Contact, which is decoded on
// demand.
func (h *Header) insertTyped(id hdrID, k int, v string, parsed bool) error {
	switch id {
	case hdrVia:
		var x Via
		if err := parseVia(&x, v); err != nil {
			if x.Host != "" {
				x.Params = ""
				h.via = insertAt(h.via, k, x)
			}
			return err
		}
		h.via = insertAt(h.via, k, x)
	case hdrRoute, hdrRecordRoute:
		var x NameAddr
		if err := parseNameAddr(&x, v); err != nil {
			return err
		}
		if x.URI.Scheme == "" {
			return errHeader("missing URI")
		}
		if id == hdrRoute {
			h.route = insertAt(h.route, k, x, routeCap)
		} else {
			h.rr = insertAt(h.rr, k, x, routeCap)
		}
	case hdrContact:
		if parsed {
			if err := checkContact(v); err != nil {
				return err
			}
			h.lazy |= lazyContact
			return nil
		}
		var x Contact
		if err := parseContact(&x, v); err != nil {
			return err
		}
		h.storeContacts(insertAt(h.copyContacts(1), k, x))
	}
	return nil
}

// routeCap is the room a first Route or Record-Route value gets: three
// NameAddrs fill a 512-byte allocation; route sets are rarely longer.
const routeCap = 3

// insertAt inserts v at index k; a nil slice gets room for initCap.
func insertAt[T any](s []T, k int, v T, initCap ...int) []T {
	if k >= len(s) {
		if s == nil && len(initCap) > 0 {
			s = make([]T, 0, initCap[0])
		}
		return append(s, v)
	}
	var zero T
	s = append(s, zero)
	copy(s[k+1:], s[k:])
	s[k] = v
	return s
}

func (h *Header) setSingle(id hdrID, value string) error {
	switch id {
	case hdrFrom, hdrTo:
		flag, dst := hasFrom, &h.from
		if id == hdrTo {
			flag, dst = hasTo, &h.to
		}
		if h.has&flag != 0 {
			return errDuplicate
		}
		// Checked now, decoded on first access (From, To): a decoded
		// NameAddr would add 168 bytes to every message. The common shape
		// is checked by one scan that also finds the tag.
		tag, _, ok := scanNameAddr(value)
		if !ok {
			var x NameAddr
			if err := parseNameAddr(&x, value); err != nil {
				return err
			}
			tag, _ = x.Params.Get("tag")
		}
		dst.setRaw(value, tag)
		h.has |= flag
	case hdrCallID:
		if h.has&hasCallID != 0 {
			return errDuplicate
		}
		// callid = word [ "@" word ]
		if value == "" {
			return errHeader("empty Call-ID")
		}
		for i := 0; i < len(value); i++ {
			if !abnf.IsCallIDChar(value[i]) {
				return errHeader("bad character in Call-ID")
			}
		}
		h.callID = value
		h.has |= hasCallID
	case hdrCSeq:
		if h.has&hasCSeq != 0 {
			return errDuplicate
		}
		if err := parseCSeq(&h.cseq, value); err != nil {
			h.cseq = CSeq{}
			return err
		}
		h.has |= hasCSeq
	case hdrMaxForwards:
		if h.maxForwards >= 0 {
			return errDuplicate
		}
		n, ok := abnf.ParseUint(value, 255)
		if !ok {
			// Malformed, or over 255, which is taken as absent.
			for i := 0; i < len(value); i++ {
				if !abnf.IsDigit(value[i]) {
					return errHeader("bad Max-Forwards")
				}
			}
			if value == "" {
				return errHeader("bad Max-Forwards")
			}
			return nil
		}
		h.maxForwards = int16(n)
	case hdrContentLength:
		n, ok := abnf.ParseUint(value, 1<<31-1)
		if !ok {
			return errHeader("bad Content-Length")
		}
		if h.contentLength >= 0 && h.contentLength != int32(n) {
			// RFC 4475 §3.3.9: conflicting values are a framing error.
			return errHeader("conflicting Content-Length values")
		}
		h.contentLength = int32(n)
	case hdrContentType:
		if h.has&hasContentType != 0 {
			return errDuplicate
		}
		if value == "" {
			return errHeader("empty Content-Type")
		}
		h.contentType = value
		h.has |= hasContentType
	}
	return nil
}

// setTypedField replaces the value of the single field with id (adding it
// at the end when absent) after its typed value has been updated.
func (h *Header) setField(id hdrID, value string) {
	h.lazyInit()
	if i := h.nth(id, 0); i >= 0 {
		h.setValue(&h.fields[i], value)
		return
	}
	h.fields = append(h.fields, h.ownField(id, "", value))
}

// SetFrom replaces the From header.
func (h *Header) SetFrom(n NameAddr) {
	h.from.set(h.slot(false), n)
	h.has |= hasFrom
	h.setTyped(hdrFrom)
}

// SetTo replaces the To header.
func (h *Header) SetTo(n NameAddr) {
	h.to.set(h.slot(true), n)
	h.has |= hasTo
	h.setTyped(hdrTo)
}

// SetToTag sets the tag parameter of To, as a UAS does in its responses
// (§8.2.6.2).
func (h *Header) SetToTag(tag string) {
	if h.has&hasTo != 0 && h.to.p.Load() == nil && !h.to.rawTagged() && abnf.IsTokenString(tag) {
		// A To as written without a tag: the tag goes after it, where a
		// decoded value would have it too (its header parameters come
		// last, also for an addr-spec written without <>, §20.10).
		raw := h.to.raw + ";tag=" + tag
		h.to.raw, h.to.tag = raw, raw[len(raw)-len(tag):]
		h.setTyped(hdrTo)
		return
	}
	var n NameAddr
	if h.has&hasTo != 0 {
		n = *h.to.get()
	}
	n.Params = n.Params.Set("tag", tag)
	h.SetTo(n)
}

// SetCallID replaces the Call-ID header.
func (h *Header) SetCallID(id string) {
	h.callID = id
	h.has |= hasCallID
	h.setField(hdrCallID, id)
}

// SetCSeq replaces the CSeq header.
func (h *Header) SetCSeq(c CSeq) {
	h.cseq = c
	h.has |= hasCSeq
	h.setTyped(hdrCSeq)
}

// SetMaxForwards replaces the Max-Forwards header (0–255).
func (h *Header) SetMaxForwards(n int) {
	n = min(max(n, 0), 255)
	h.maxForwards = int16(n)
	h.setTyped(hdrMaxForwards)
}

// SetContentType replaces the Content-Type header; "" removes it.
func (h *Header) SetContentType(ct string) {
	if ct == "" {
		h.Del(string(HeaderContentType))
		return
	}
	h.contentType = ct
	h.has |= hasContentType
	h.setField(hdrContentType, ct)
}

// setContentLength is called by SetBody.
func (h *Header) setContentLength(n int) {
	h.contentLength = int32(min(n, 1<<31-1))
	h.setTyped(hdrContentLength)
}

// PrependVia inserts v as the topmost Via (§16.6 step 8, §8.1.1.7).
func (h *Header) PrependVia(v Via) {
	h.lazyInit()
	h.via = insertAt(h.via, 0, v)
	pos := h.nth(hdrVia, 0)
	if pos < 0 {
		pos = 0
	}
	h.insertField(pos, typedField(hdrVia))
}

// SetTopVia replaces the topmost Via, as a server does when it adds
// received and rport (§18.2.1, RFC 3581 §4).
func (h *Header) SetTopVia(v Via) {
	i := h.nth(hdrVia, 0)
	if i < 0 {
		h.PrependVia(v)
		return
	}
	h.via[0] = v
	h.ungroup(h.fields[i].grp)
	h.fields[i] = typedField(hdrVia)
}

// RemoveTopVia removes the topmost Via, as a proxy does with responses
// (§16.7 step 3). It reports whether there was one.
func (h *Header) RemoveTopVia() bool { return h.removeFirst(hdrVia) }

// PrependRoute inserts n as the first Route value.
func (h *Header) PrependRoute(n NameAddr) { h.prependNameAddr(hdrRoute, &h.route, n) }

// prependNameAddr inserts n first among the values of id (Route or
// Record-Route), kept in list; a first value goes after the Vias.
func (h *Header) prependNameAddr(id hdrID, list *[]NameAddr, n NameAddr) {
	h.lazyInit()
	*list = insertAt(*list, 0, n)
	pos := h.nth(id, 0)
	if pos < 0 {
		pos = h.defaultPos()
	}
	h.insertField(pos, typedField(id))
}

// RemoveTopRoute removes the first Route value (§16.4, §16.12) and reports
// whether there was one.
func (h *Header) RemoveTopRoute() bool { return h.removeFirst(hdrRoute) }

// PrependRecordRoute inserts n as the first Record-Route value (§16.6 step 4).
func (h *Header) PrependRecordRoute(n NameAddr) { h.prependNameAddr(hdrRecordRoute, &h.rr, n) }

// SetContacts replaces every Contact value.
func (h *Header) SetContacts(cs ...Contact) {
	h.lazyInit()
	pos := h.nth(hdrContact, 0)
	h.Del(string(HeaderContact))
	if pos < 0 || pos > len(h.fields) {
		pos = len(h.fields)
	}
	for k := range cs {
		h.insertField(pos+k, typedField(hdrContact))
	}
	h.storeContacts(append([]Contact(nil), cs...))
}

// defaultPos is where a new Route/Record-Route goes: after the Vias.
func (h *Header) defaultPos() int {
	pos := 0
	for i := range h.fields {
		if h.fields[i].id == hdrVia {
			pos = i + 1
		}
	}
	return pos
}

func (h *Header) removeFirst(id hdrID) bool {
	i := h.nth(id, 0)
	if i < 0 {
		return false
	}
	var cs []Contact
	if id == hdrContact {
		// Decoded from the fields as they are before the removal.
		cs = h.copyContacts(0)
	}
	h.ungroup(h.fields[i].grp)
	copy(h.fields[i:], h.fields[i+1:])
	h.fields[len(h.fields)-1] = field{}
	h.fields = h.fields[:len(h.fields)-1]
	switch id {
	case hdrVia:
		h.via = removeAt(h.via, 0)
	case hdrRoute:
		h.route = removeAt(h.route, 0)
	case hdrRecordRoute:
		h.rr = removeAt(h.rr, 0)
	case hdrContact:
		if len(cs) > 0 {
			cs = removeAt(cs, 0)
		}
		h.storeContacts(cs)
	}
	return true
}

func removeAt[T any](s []T, k int) []T {
	copy(s[k:], s[k+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// fieldsLen returns the encoded length of all header lines, each with CRLF.
func (h *Header) fieldsLen() int {
	n := 0
	var nth [hdrCount]int
	for i := range h.fields {
		f := &h.fields[i]
		k := nth[f.id]
		nth[f.id]++
		if f.typed() {
			n += len(h.canonicalName(f)) + 2 + h.typedLen(f, k) + 2
			continue
		}
		if line := h.fline(f); line != "" {
			if f.grp != 0 && i > 0 && h.fields[i-1].grp == f.grp && h.fline(&h.fields[i-1]) != "" {
				continue
			}
			n += len(line) + 2
			continue
		}
		n += len(h.canonicalName(f)) + 2 + len(h.fvalue(f)) + 2
	}
	return n
}

func (h *Header) appendFields(b []byte, canonical bool) []byte {
	var nth [hdrCount]int // typed values seen so far, per header
	for i := range h.fields {
		f := &h.fields[i]
		if canonical {
			b = append(b, h.canonicalName(f)...)
			b = append(b, ": "...)
			b = h.appendCanonicalValue(b, f, nth[f.id])
			nth[f.id]++
			b = append(b, "\r\n"...)
			continue
		}
		if f.typed() {
			b = append(b, h.canonicalName(f)...)
			b = append(b, ": "...)
			b = h.appendTyped(b, f, nth[f.id])
			nth[f.id]++
			b = append(b, "\r\n"...)
			continue
		}
		nth[f.id]++
		if line := h.fline(f); line != "" {
			if f.grp != 0 && i > 0 && h.fields[i-1].grp == f.grp && h.fline(&h.fields[i-1]) != "" {
				continue
			}
			b = append(b, line...)
			b = append(b, "\r\n"...)
			continue
		}
		b = append(b, h.canonicalName(f)...)
		b = append(b, ": "...)
		b = append(b, h.fvalue(f)...)
		b = append(b, "\r\n"...)
	}
	return b
}

// appendCanonicalValue writes the k-th value of f's header as a generating
// element would: typed headers from their typed value without optional
// white space, others with each run of white space outside quoted strings
// collapsed to one SP.
func (h *Header) appendCanonicalValue(b []byte, f *field, k int) []byte {
	canonNA := func(n NameAddr) []byte {
		n.Params = n.Params.Canonical()
		return n.AppendTo(b)
	}
	switch f.id {
	case hdrVia:
		if k < len(h.via) && h.via[k].Host != "" && h.fvalue(f) != "" {
			v := h.via[k]
			v.Params = v.Params.Canonical()
			return v.AppendTo(b)
		}
	case hdrRoute:
		if k < len(h.route) {
			return canonNA(h.route[k])
		}
	case hdrRecordRoute:
		if k < len(h.rr) {
			return canonNA(h.rr[k])
		}
	case hdrContact:
		if cs := h.Contacts(); k < len(cs) {
			if cs[k].Star {
				return append(b, '*')
			}
			return canonNA(cs[k].NameAddr)
		}
	case hdrFrom:
		if h.has&hasFrom != 0 {
			return canonNA(*h.from.get())
		}
	case hdrTo:
		if h.has&hasTo != 0 {
			return canonNA(*h.to.get())
		}
	case hdrCSeq:
		if h.has&hasCSeq != 0 {
			return h.cseq.AppendTo(b)
		}
	case hdrMaxForwards:
		if h.maxForwards >= 0 {
			return strconv.AppendInt(b, int64(h.maxForwards), 10)
		}
	case hdrContentLength:
		if h.contentLength >= 0 {
			return strconv.AppendInt(b, int64(h.contentLength), 10)
		}
	}
	return appendCollapsed(b, h.fvalue(f))
}

// appendCollapsed appends v with every run of linear white space outside
// quoted strings replaced by one SP.
func appendCollapsed(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			end, ok := abnf.QuotedString(v, i)
			if !ok {
				return append(b, v[i:]...)
			}
			b = append(b, v[i:end]...)
			i = end - 1
		case abnf.IsLWSByte(c):
			j := abnf.SkipWS(v, i)
			b = append(b, ' ')
			i = j - 1
		default:
			b = append(b, c)
		}
	}
	return b
}

// copyFrom makes h a deep copy of src (the strings are shared, they are
// immutable).
func (h *Header) copyFrom(src *Header, fields []field) {
	h.init(fields)
	h.src = src.src
	h.extra = append([]string(nil), src.extra...)
	h.fields = append(h.fields, src.fields...)
	h.via = append(h.via, src.via...)
	h.route = append(h.route, src.route...)
	h.rr = append(h.rr, src.rr...)
	// Lazy Contact values are decoded again from the shared text; stored
	// ones are never changed, so they are shared.
	h.lazy = src.lazy
	if src.lazy&lazyContact == 0 {
		h.cbox.Store(src.cbox.Load())
	}
	copyAddr(h, &h.from, src, &src.from, false)
	copyAddr(h, &h.to, src, &src.to, true)
	h.callID, h.cseq = src.callID, src.cseq
	h.maxForwards, h.contentLength, h.contentType = src.maxForwards, src.contentLength, src.contentType
	h.has, h.nextGrp = src.has, src.nextGrp
}
