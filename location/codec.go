package location

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// The disk and Redis encoding of a record: JSON with short field names,
// zero fields omitted, times as Unix nanoseconds. The AoR is the key and
// is not repeated in each binding. Version 1; a new incompatible format
// gets a new "f" value.

type recordJSON struct {
	Format   int           `json:"f"`
	Version  uint64        `json:"v"`
	Bindings []bindingJSON `json:"b"`
}

type bindingJSON struct {
	URI        string         `json:"u"`
	Display    string         `json:"d,omitempty"`
	Quoted     bool           `json:"dq,omitempty"`
	Bare       bool           `json:"ba,omitempty"`
	Params     string         `json:"p,omitempty"`
	Expires    int64          `json:"e"`
	Q          int            `json:"q"`
	CallID     string         `json:"i,omitempty"`
	CSeq       uint32         `json:"s,omitempty"`
	Path       []string       `json:"pa,omitempty"`
	InstanceID string         `json:"in,omitempty"`
	RegID      uint32         `json:"r,omitempty"`
	Received   netip.AddrPort `json:"rc,omitzero"`
	Network    uint8          `json:"fn,omitempty"`
	Local      netip.AddrPort `json:"fl,omitzero"`
	Remote     netip.AddrPort `json:"fr,omitzero"`
	ConnID     uint64         `json:"fc,omitempty"`
	Node       string         `json:"n,omitempty"`
	Updated    int64          `json:"t,omitempty"`
}

const formatV1 = 1

func encodeRecord(version uint64, bs []Binding) ([]byte, error) {
	r := recordJSON{Format: formatV1, Version: version, Bindings: make([]bindingJSON, len(bs))}
	for i := range bs {
		b := &bs[i]
		r.Bindings[i] = bindingJSON{
			URI: b.Contact.URI.String(), Display: b.Contact.Display, Quoted: b.Contact.Quoted,
			Bare: b.Contact.Bare, Params: string(b.Contact.Params),
			Expires: b.Expires.UnixNano(), Q: b.Q, CallID: b.CallID, CSeq: b.CSeq, Path: b.Path,
			InstanceID: b.InstanceID, RegID: b.RegID, Received: b.Received,
			Network: uint8(b.Flow.Network), Local: b.Flow.Local, Remote: b.Flow.Remote, ConnID: b.Flow.ConnID,
			Node: b.Node,
		}
		if !b.Updated.IsZero() {
			r.Bindings[i].Updated = b.Updated.UnixNano()
		}
	}
	return json.Marshal(&r)
}

func decodeRecord(aor string, data []byte) (version uint64, bs []Binding, err error) {
	var r recordJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, nil, fmt.Errorf("location: record %q: %w", aor, err)
	}
	if r.Format != formatV1 {
		return 0, nil, fmt.Errorf("location: record %q: unknown format %d", aor, r.Format)
	}
	bs = make([]Binding, len(r.Bindings))
	for i, j := range r.Bindings {
		u, err := sip.ParseURI(j.URI)
		if err != nil {
			return 0, nil, fmt.Errorf("location: record %q: contact: %w", aor, err)
		}
		b := Binding{
			AoR: aor,
			Contact: sip.Contact{NameAddr: sip.NameAddr{
				Display: j.Display, Quoted: j.Quoted, URI: u, Bare: j.Bare, Params: sip.Params(j.Params),
			}},
			Expires: time.Unix(0, j.Expires).UTC(), Q: j.Q, CallID: j.CallID, CSeq: j.CSeq,
			Path: j.Path, InstanceID: j.InstanceID, RegID: j.RegID, Received: j.Received,
			Flow: transport.Flow{Network: transport.Network(j.Network), Local: j.Local, Remote: j.Remote, ConnID: j.ConnID},
			Node: j.Node,
		}
		if j.Updated != 0 {
			b.Updated = time.Unix(0, j.Updated).UTC()
		}
		bs[i] = b
	}
	return r.Version, bs, nil
}
