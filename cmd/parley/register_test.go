package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

func TestRegisterCommand(t *testing.T) {
	users := &digest.Users{}
	if err := users.SetPassword("alice", "127.0.0.1", "s3cret", digest.SHA256); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var contacts []string
	reg := stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		mu.Lock()
		contacts = append(contacts, r.Contacts()[0].URI.String())
		mu.Unlock()
		e, _ := r.Expires()
		res := sip.NewResponse(r, sip.StatusOK)
		c := r.Contacts()[0]
		c.Params = c.Params.Set("expires", strconv.Itoa(int(e)))
		res.SetContacts(c)
		_ = w.Respond(res)
	})
	auth := &digest.Server{Realm: "127.0.0.1", Users: users}
	s := &stack.Server{Handler: stack.Chain(reg, auth.Middleware())}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	aor := fmt.Sprintf("sip:alice@%s", ln.Addr())
	code, out, errs := runCmd(t, "", "register", "--password", "s3cret", "--expires", "120s", aor)
	if code != 0 || !strings.Contains(out, "200 OK: sip:alice@127.0.0.1 registered for 2m0s") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "", "register", "--password", "wrong", aor); code != 1 || !strings.Contains(errs, "credentials") {
		t.Errorf("wrong password: exit %d, %s", code, errs)
	}
	if code, _, _ := runCmd(t, "", "register", "sip:"+ln.Addr().String()); code != 2 {
		t.Errorf("AoR without user: exit %d, want 2", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(contacts) == 0 || contacts[0] != "sip:alice@127.0.0.1" {
		t.Errorf("contacts %v", contacts)
	}
}
