package ua

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

// Registration keeps one contact registered for an address-of-record
// (RFC 3261 §10.2): REGISTER with digest credentials when challenged, the
// 423 Min-Expires retry (§10.2.8), refresh before expiry (§10.2.1.1) and
// removal on shutdown (§10.2.2). Set the fields, then call Register once or
// Run to keep the binding alive.
type Registration struct {
	// Client sends the requests.
	Client *stack.Client
	// Registrar is the Request-URI: the domain's registrar, e.g.
	// sip:example.com (§10.2: "The Request-URI names the domain of the
	// location service").
	Registrar sip.URI
	// AoR is the address-of-record, used in To and From (§10.2).
	AoR sip.URI
	// Contact is the address to register.
	Contact sip.URI
	// Expires is the binding lifetime asked for; zero means 3600 s.
	Expires time.Duration
	// User and Password answer digest challenges (RFC 3261 §22).
	User, Password string
	// Options are passed to every Client.Do (a destination, for example).
	Options []stack.Option

	mu      sync.Mutex
	callID  string
	fromTag string
	seq     uint32
	granted time.Duration
}

// Errors of the registration client.
var (
	// ErrAuth is returned when the registrar rejects the credentials.
	ErrAuth = errors.New("ua: registration rejected the credentials")
	// ErrRejected wraps any other final failure response.
	ErrRejected = errors.New("ua: registration rejected")
)

func (r *Registration) expires() time.Duration {
	if r.Expires <= 0 {
		return 3600 * time.Second
	}
	return r.Expires
}

// Granted returns the lifetime the registrar granted last time.
func (r *Registration) Granted() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.granted
}

// Register sends one REGISTER (answering up to two challenges and one 423)
// and returns the final response. expires of 0 removes the binding.
func (r *Registration) Register(ctx context.Context) (*sip.Response, error) {
	return r.register(ctx, r.expires())
}

// Unregister removes the binding: a REGISTER with Expires: 0 (§10.2.2).
func (r *Registration) Unregister(ctx context.Context) error {
	_, err := r.register(ctx, 0)
	return err
}

func (r *Registration) register(ctx context.Context, expires time.Duration) (*sip.Response, error) {
	r.mu.Lock()
	if r.callID == "" {
		// §10.2: "A UA SHOULD use the same Call-ID for all registrations
		// during a single boot cycle."
		r.callID = sip.NewCallID(r.AoR.Host)
		r.fromTag = sip.NewTag()
	}
	r.mu.Unlock()
	// The challenge answered, and the nonce count of its nonce: every
	// request that reuses the nonce counts one higher (RFC 7616 §3.4).
	var challenge *sip.Auth
	var authHeader sip.HeaderName
	var nc uint32
	tried423 := false
	for attempt := 0; attempt < 5; attempt++ {
		req := r.newRequest(expires)
		if challenge != nil {
			nc++
			a, err := digest.Answer(*challenge, sip.REGISTER, req.URI.String(), r.User, r.Password, nil, nil, nc)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrAuth, err)
			}
			_ = req.Add(string(authHeader), digest.Value(a))
		}
		res, err := r.Client.Do(ctx, req, r.Options...)
		if err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode.Success():
			r.mu.Lock()
			r.granted = grantedExpiry(res, r.Contact, expires)
			r.mu.Unlock()
			return res, nil
		case res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthenticationRequired:
			challengeHdr, credHdr := sip.HeaderWWWAuthenticate, sip.HeaderAuthorization
			if res.StatusCode == sip.StatusProxyAuthenticationRequired {
				challengeHdr, credHdr = sip.HeaderProxyAuthenticate, sip.HeaderProxyAuthorization
			}
			cs, _ := res.Auths(string(challengeHdr))
			ch, ok := digest.Choose(cs)
			// A second challenge means the credentials failed, unless it
			// says the nonce was merely stale (RFC 7616 §3.3).
			if !ok || r.User == "" || (challenge != nil && !isStale(ch)) {
				return res, fmt.Errorf("%w: %d %s", ErrAuth, res.StatusCode, res.Reason)
			}
			challenge, authHeader, nc = &ch, credHdr, 0
		case res.StatusCode == sip.StatusIntervalTooBrief && !tried423 && expires > 0:
			// §10.2.8: "the UA ... MAY retry the registration ... with an
			// expiration interval greater than or equal to" Min-Expires.
			min, ok := res.MinExpires()
			if !ok {
				return res, fmt.Errorf("%w: 423 without Min-Expires", ErrRejected)
			}
			expires = time.Duration(min) * time.Second
			tried423 = true
		default:
			return res, fmt.Errorf("%w: %d %s", ErrRejected, res.StatusCode, res.Reason)
		}
	}
	return nil, fmt.Errorf("%w: too many retries", ErrRejected)
}

func isStale(a sip.Auth) bool {
	v, _ := a.Get("stale")
	return v == "true" || v == "TRUE"
}

func (r *Registration) newRequest(expires time.Duration) *sip.Request {
	r.mu.Lock()
	r.seq++ // §10.2: "MUST increment the CSeq value by one for each REGISTER"
	seq := r.seq
	r.mu.Unlock()
	req := sip.NewRequest(sip.REGISTER, requestURI(r.Registrar))
	req.SetTo(sip.NameAddr{URI: r.AoR})
	req.SetFrom(sip.NameAddr{URI: r.AoR, Params: sip.Params(";tag=" + r.fromTag)})
	req.SetCallID(r.callID)
	req.SetCSeq(sip.CSeq{Seq: seq, Method: sip.REGISTER})
	req.SetMaxForwards(70)
	req.SetContacts(sip.Contact{NameAddr: sip.NameAddr{URI: r.Contact}})
	_ = req.Set(string(sip.HeaderExpires), strconv.Itoa(int(expires/time.Second)))
	return req
}

// grantedExpiry reads the lifetime the registrar granted our contact
// (§10.2.4: "the expiration interval ... is indicated using the expires
// parameter of the Contact header field value or the Expires header").
func grantedExpiry(res *sip.Response, contact sip.URI, asked time.Duration) time.Duration {
	for _, c := range res.Contacts() {
		if c.URI.Equal(&contact) {
			if e, ok := c.Expires(); ok {
				return time.Duration(e) * time.Second
			}
		}
	}
	if e, ok := res.Expires(); ok {
		return time.Duration(e) * time.Second
	}
	return asked
}

// Run registers, refreshes the binding halfway through each granted
// lifetime (§10.2.1.1 leaves the moment to the UA; half leaves room for a
// lost request and its retry), and removes the binding when ctx ends. A
// failed refresh is retried after a quarter of the lifetime, at most 30 s.
// Run returns the first registration's error, or the unregistration's
// result at the end.
func (r *Registration) Run(ctx context.Context, onRegistered func(*sip.Response)) error {
	res, err := r.Register(ctx)
	if err != nil {
		return err
	}
	if onRegistered != nil {
		onRegistered(res)
	}
	for {
		g := r.Granted()
		wait := g / 2
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return r.Unregister(uctx)
		case <-time.After(wait):
		}
		res, err := r.Register(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(min(30*time.Second, g/4)):
				}
			}
			continue
		}
		if onRegistered != nil {
			onRegistered(res)
		}
	}
}
