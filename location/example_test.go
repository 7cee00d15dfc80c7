package location_test

import (
	"context"
	"fmt"
	"time"

	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
)

func Example() {
	ctx := context.Background()
	s := location.NewMemory(location.MemoryOptions{})
	defer s.Close()
	changes := s.Watch(ctx, 8)

	u, _ := sip.ParseURI("sip:alice@192.0.2.4:5060")
	b := location.Binding{
		Contact: sip.Contact{NameAddr: sip.NameAddr{URI: u, Params: ";+sip.audio;expires=3600"}},
		Expires: time.Now().Add(time.Hour),
		Q:       1000,
		CallID:  "a84b4c76e66710",
		CSeq:    1,
	}
	// A REGISTER adds or refreshes a binding in one atomic update.
	rec, err := s.Update(ctx, "sip:alice@example.com", func(r *location.Record) error {
		if i := r.Index(&b); i >= 0 {
			r.Bindings[i] = b
		} else {
			r.Bindings = append(r.Bindings, b)
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(rec.Bindings), rec.Bindings[0].Contact.String())
	c := <-changes
	fmt.Println(c.Kind, c.AoR)

	_ = s.Delete(ctx, "sip:alice@example.com")
	c = <-changes
	fmt.Println(c.Kind, c.Binding.Contact.URI.String())
	// Output:
	// 1 <sip:alice@192.0.2.4:5060>;+sip.audio;expires=3600
	// created sip:alice@example.com
	// removed sip:alice@192.0.2.4:5060
}
