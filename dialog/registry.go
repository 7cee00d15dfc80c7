package dialog

import (
	"sync"

	"github.com/parleysip/parley/sip"
)

// Registry finds dialogs by ID, early ones included. The zero value is
// ready to use.
type Registry struct {
	mu sync.RWMutex
	m  map[ID]*Dialog
}

// Add registers d; a dialog with the same ID is replaced.
func (r *Registry) Add(d *Dialog) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[ID]*Dialog)
	}
	r.m[d.id] = d
}

// Get returns the dialog with id.
func (r *Registry) Get(id ID) (*Dialog, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.m[id]
	return d, ok
}

// Remove forgets the dialog with id.
func (r *Registry) Remove(id ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}

// Len returns the number of dialogs.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// ForRequest finds the dialog a received request belongs to (its To tag is
// our local tag, its From tag the remote one).
func (r *Registry) ForRequest(req *sip.Request) (*Dialog, bool) {
	to, from := req.To(), req.From()
	if to == nil || from == nil || to.Tag() == "" {
		return nil, false
	}
	return r.Get(ID{CallID: req.CallID(), LocalTag: to.Tag(), RemoteTag: from.Tag()})
}

// ForResponse finds the dialog a response received by the UAC belongs to.
func (r *Registry) ForResponse(res *sip.Response) (*Dialog, bool) {
	to, from := res.To(), res.From()
	if to == nil || from == nil || to.Tag() == "" {
		return nil, false
	}
	return r.Get(ID{CallID: res.CallID(), LocalTag: from.Tag(), RemoteTag: to.Tag()})
}
