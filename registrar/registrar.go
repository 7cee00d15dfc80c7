package registrar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// Registrar answers REGISTER requests. Set Store; the zero values of the
// other fields are the defaults documented on each.
type Registrar struct {
	// Store holds the bindings.
	Store location.Store
	// Domains are the domains this registrar is responsible for (§10.3
	// step 1), compared case-insensitively with the Request-URI host and
	// the AoR host. Empty means every domain.
	Domains []string
	// DefaultExpires applies when a contact gives no expiry (§10.3 step
	// 6 suggests 3600 s); zero means 3600 s.
	DefaultExpires time.Duration
	// MinExpires is the shortest lifetime accepted (§10.3 step 6: shorter
	// gets 423 with Min-Expires); zero means 60 s.
	MinExpires time.Duration
	// MaxExpires caps a lifetime (the registrar "MAY shorten"); zero means
	// 86400 s.
	MaxExpires time.Duration
	// ServiceRoute, if set, is returned in every 200 (RFC 3608 §6).
	ServiceRoute []sip.NameAddr
	// RequireAuth makes the Registrar refuse (403) a REGISTER that no
	// authentication middleware vouched for. Leave it false only for an
	// open registrar on a closed network.
	RequireAuth bool
	// GRUU, if set, makes the registrar hand out GRUUs (RFC 5627): a
	// REGISTER that says "Supported: gruu" gets, for each contact with a
	// +sip.instance, a pub-gruu and a new temp-gruu in the 200 (§5.2).
	GRUU *location.GRUUs
	// Node names this server in bindings when several share the Store.
	Node string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (r *Registrar) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// supported are the option tags this registrar understands (§10.3 step 2).
var supported = []string{"path", "outbound", "gruu"}

// errOutOfOrder aborts an update (§10.3 step 7).
var errOutOfOrder = errors.New("registrar: REGISTER out of order")

// ServeSIP processes a REGISTER; other methods get 405 with Allow.
func (r *Registrar) ServeSIP(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	res := r.process(ctx, w, req)
	_ = w.Respond(res)
}

func (r *Registrar) fail(req *sip.Request, code sip.StatusCode, reason string) *sip.Response {
	res := sip.NewResponse(req, code)
	if reason != "" {
		res.Reason = reason
	}
	return res
}

func (r *Registrar) ourDomain(host string) bool {
	if len(r.Domains) == 0 {
		return true
	}
	for _, d := range r.Domains {
		if abnf.EqualFold(d, host) {
			return true
		}
	}
	return false
}

func (r *Registrar) process(ctx context.Context, w stack.ResponseWriter, req *sip.Request) *sip.Response {
	if req.Method != sip.REGISTER {
		res := sip.NewResponse(req, sip.StatusMethodNotAllowed)
		_ = res.Add("Allow", "REGISTER")
		return res
	}
	// Step 1: "The registrar inspects the Request-URI to determine whether
	// it has access to bindings for the domain identified in the
	// Request-URI."
	if !req.URI.IsSIP() || !r.ourDomain(req.URI.Host) {
		return r.fail(req, sip.StatusForbidden, "Not Our Domain")
	}
	// Step 2: "To guarantee that the registrar supports any necessary
	// extensions, the registrar MUST process the Require header field
	// values as described for UASs in Section 8.2.2."
	var unsupported []string
	if req.Has(string(sip.HeaderRequire)) { // (no closure, no allocation, without one)
		for _, tag := range req.OptionTags(string(sip.HeaderRequire)) {
			ok := false
			for _, s := range supported {
				if abnf.EqualFold(s, tag) {
					ok = true
				}
			}
			if !ok {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) > 0 {
		res := sip.NewResponse(req, sip.StatusBadExtension)
		_ = res.Add(string(sip.HeaderUnsupported), strings.Join(unsupported, ", "))
		return res
	}
	// Step 5: "The registrar extracts the address-of-record from the To
	// header field of the request. If the address-of-record is not valid
	// for the domain in the Request-URI, the registrar MUST send a 404
	// (Not Found) response." An AoR that is not a SIP URI is malformed
	// for a registrar (RFC 4475 §3.3.4: 400).
	to := req.To()
	if to == nil || !to.URI.IsSIP() {
		return r.fail(req, sip.StatusBadRequest, "To Must Be A SIP URI")
	}
	if !r.ourDomain(to.URI.Host) {
		return r.fail(req, sip.StatusNotFound, "")
	}
	aor, err := location.CanonicalAoR(to.URI)
	if err != nil {
		return r.fail(req, sip.StatusBadRequest, "")
	}
	// Steps 3–4: authentication is the middleware's; the authenticated
	// user may change only their own AoR ("the registrar ... determine[s]
	// if the authorized user is authorized to modify registrations for
	// this address-of-record").
	user, authed := digest.User(ctx)
	if r.RequireAuth && !authed {
		return r.fail(req, sip.StatusForbidden, "")
	}
	if authed && user != to.URI.UserUnescaped() {
		return r.fail(req, sip.StatusForbidden, "Not Your Address-of-Record")
	}
	cs, _ := req.CSeq()
	contacts := req.Contacts()
	hdrExpires, hasHdrExpires := req.Expires()
	// Step 6: the "*" Contact.
	star := false
	for _, c := range contacts {
		if c.Star {
			star = true
		}
	}
	if star {
		// "If the request ... contains ... '*' ... and an Expires header
		// field with a value of zero ... If it is not zero, or there is more
		// than one Contact header field value, the registrar MUST return a
		// 400 (Bad Request)."
		if len(contacts) != 1 || !hasHdrExpires || hdrExpires != 0 {
			return r.fail(req, sip.StatusBadRequest, "Bad Wildcard Contact")
		}
	}
	now := r.now()
	minExp := durOr(r.MinExpires, 60*time.Second)
	maxExp := durOr(r.MaxExpires, 86400*time.Second)
	defExp := durOr(r.DefaultExpires, 3600*time.Second)
	type update struct {
		b      location.Binding
		remove bool
	}
	var updates []update
	var path []string
	if req.Has(string(sip.HeaderPath)) {
		path = req.OptionTags(string(sip.HeaderPath)) // every value, in order
	}
	var flow transport.Flow
	if fw, ok := w.(stack.FlowWriter); ok {
		flow = fw.Flow()
	}
	received := flow.Remote
	outbound := false
	for _, c := range contacts {
		if c.Star {
			continue
		}
		if !c.URI.IsSIP() && !c.URI.IsTel() {
			return r.fail(req, sip.StatusBadRequest, "Unsupported Contact URI")
		}
		// "the registrar ... determines the expiration interval ... the
		// value of the 'expires' parameter ... If there is no such
		// parameter, but there is an Expires header field ... If there is
		// neither, a locally-configured default value MUST be taken".
		exp := defExp
		if e, ok := c.Expires(); ok {
			exp = time.Duration(e) * time.Second
		} else if _, present := c.Params.Get("expires"); present {
			return r.fail(req, sip.StatusBadRequest, "Bad Contact Expires")
		} else if hasHdrExpires {
			exp = time.Duration(hdrExpires) * time.Second
		}
		if exp > 0 && exp < minExp {
			// "If and only if the requested expiration interval is greater
			// than zero AND smaller than one hour AND less than a
			// registrar-configured minimum, the registrar MAY reject the
			// registration with a response of 423 (Interval Too Brief). This
			// response MUST contain a Min-Expires header field".
			res := sip.NewResponse(req, sip.StatusIntervalTooBrief)
			_ = res.Add(string(sip.HeaderMinExpires), strconv.Itoa(int(minExp/time.Second)))
			return res
		}
		exp = min(exp, maxExp)
		q, _ := c.Q()
		if _, hasQ := c.Params.Get("q"); !hasQ {
			q = 1000
		}
		b := location.Binding{
			AoR: aor, Contact: c, Expires: now.Add(exp), Q: q,
			CallID: req.CallID(), CSeq: cs.Seq, Path: path,
			Received: received, Flow: flow, Node: r.Node, Updated: now,
		}
		if inst, ok := c.Params.Get("+sip.instance"); ok {
			b.InstanceID = strings.Trim(sip.Unquote(inst), "<>")
			if exp > 0 && c.URI.IsSIP() {
				// RFC 5627 §5.1: "If the contact URI is equivalent ... to
				// the AOR, the registrar MUST reject the request with a
				// 403, since this would cause a routing loop. If the
				// contact URI is a GRUU for the AOR in the To header field
				// of the REGISTER request, the registrar MUST reject the
				// request with a 403, for the same reason."
				if ca, err := location.CanonicalAoR(c.URI); err == nil && ca == aor {
					if c.URI.Params.Has("gr") || !c.URI.Params.Has("transport") && !c.URI.Params.Has("maddr") {
						return r.fail(req, sip.StatusForbidden, "Contact Is The AoR Or Its GRUU")
					}
				}
				if r.GRUU != nil {
					if ref, ok := r.GRUU.Resolve(c.URI); ok && ref.AoR == aor {
						return r.fail(req, sip.StatusForbidden, "Contact Is A GRUU Of The AoR")
					}
				}
			}
			// The UA cannot suggest its GRUUs (§5.1: "the header field
			// parameter MUST be ignored by the registrar").
			b.Contact.Params = b.Contact.Params.Del("pub-gruu").Del("temp-gruu")
		}
		if rid, ok := c.Params.Get("reg-id"); ok {
			n, err := strconv.ParseUint(rid, 10, 32)
			if err != nil || n == 0 {
				return r.fail(req, sip.StatusBadRequest, "Bad reg-id")
			}
			b.RegID = uint32(n)
		}
		if b.InstanceID != "" && b.RegID != 0 {
			// RFC 5626 §6: "If the registrar receives a REGISTER with a
			// reg-id ... and the first hop (the edge proxy, or the UA when
			// there is no Path) does not support outbound, it MUST reject
			// the request with 439 (First Hop Lacks Outbound Support)".
			if len(path) > 0 {
				if !strings.Contains(path[0], ";ob") {
					return r.fail(req, sip.StatusFirstHopLacksOutbound, "")
				}
			} else if len(req.Vias()) != 1 {
				return r.fail(req, sip.StatusFirstHopLacksOutbound, "")
			}
			outbound = true
		} else if b.RegID != 0 && b.InstanceID == "" {
			return r.fail(req, sip.StatusBadRequest, "reg-id Without +sip.instance")
		}
		updates = append(updates, update{b: b, remove: exp == 0})
	}
	// Step 7: the atomic update of the AoR's bindings.
	rec, err := r.Store.Update(ctx, aor, func(rec *location.Record) error {
		if star {
			// "the registrar ... MUST remove all bindings ... if the
			// Call-ID and CSeq checks pass for each" (§10.3 step 6).
			for i := range rec.Bindings {
				old := &rec.Bindings[i]
				if old.CallID == req.CallID() && old.CSeq >= cs.Seq {
					return errOutOfOrder
				}
			}
			rec.Bindings = rec.Bindings[:0]
			return nil
		}
		for _, u := range updates {
			i := rec.Index(&u.b)
			if i >= 0 {
				old := &rec.Bindings[i]
				// "If the Call-ID value in the existing binding differs from
				// the Call-ID value in the request, the binding MUST be
				// removed if the expiration time is zero and updated
				// otherwise. If they are the same, the registrar compares the
				// CSeq value. If the value is higher than that of the
				// existing binding, it MUST update or remove the binding as
				// above. If not, the update MUST be aborted and the request
				// fails."
				if old.CallID == u.b.CallID && old.CSeq >= u.b.CSeq {
					return errOutOfOrder
				}
				if u.remove {
					rec.Bindings = append(rec.Bindings[:i], rec.Bindings[i+1:]...)
				} else {
					rec.Bindings[i] = u.b
				}
				continue
			}
			if !u.remove {
				rec.Bindings = append(rec.Bindings, u.b)
			}
		}
		return nil
	})
	if errors.Is(err, errOutOfOrder) {
		return r.fail(req, sip.StatusServerInternalError, "Out Of Order REGISTER")
	}
	if err != nil {
		res := r.fail(req, sip.StatusServerInternalError, "")
		_ = res.Add("Retry-After", "5")
		return res
	}
	// Step 8: "The registrar returns a 200 (OK) response. The response
	// MUST contain Contact header field values enumerating all current
	// bindings. Each Contact value MUST feature an 'expires' parameter
	// indicating its expiration interval chosen by the registrar. The
	// response SHOULD include a Date header field."
	res := sip.NewResponse(req, sip.StatusOK)
	out := make([]sip.Contact, 0, len(rec.Bindings))
	gruu := r.GRUU != nil && req.Has(string(sip.HeaderSupported)) && slices.Contains(req.OptionTags(string(sip.HeaderSupported)), "gruu")
	for i, b := range rec.Bindings {
		c := b.Contact
		left := max(int(b.Expires.Sub(now).Round(time.Second)/time.Second), 0)
		c.Params = c.Params.Set("expires", strconv.Itoa(left))
		if gruu && b.InstanceID != "" {
			// RFC 5627 §5.2: "If the REGISTER request contained a
			// Supported header field that included the "gruu" option tag
			// ... the registrar MUST add a "temp-gruu" Contact header field
			// parameter ... [and] MUST add a "pub-gruu" Contact header
			// field parameter". The temporary GRUU is issued for the
			// Call-ID of the instance's newest contact, the one that keeps
			// it valid (§5.1).
			callID := b.CallID
			for j := range rec.Bindings {
				if o := &rec.Bindings[j]; j != i && o.InstanceID == b.InstanceID && o.Updated.After(b.Updated) {
					callID = o.CallID
				}
			}
			pub, err1 := r.GRUU.Public(aor, b.InstanceID)
			tmp, err2 := r.GRUU.Temporary(aor, b.InstanceID, callID)
			if err1 == nil && err2 == nil {
				c.Params = c.Params.Set("pub-gruu", quote(pub.String())).Set("temp-gruu", quote(tmp.String()))
			}
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		res.SetContacts(out...)
	}
	_ = res.Add(string(sip.HeaderDate), now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))
	if len(path) > 0 {
		// RFC 3327 §5.3: the registrar "copies the Path header field values
		// into the 200 (OK) response".
		for _, p := range path {
			_ = res.Add(string(sip.HeaderPath), p)
		}
	}
	_ = res.Add(string(sip.HeaderSupported), "path, outbound")
	if outbound {
		// RFC 5626 §6: the 200 to a REGISTER that created an outbound
		// binding carries "Require: outbound".
		_ = res.Add(string(sip.HeaderRequire), "outbound")
	}
	for _, sr := range r.ServiceRoute {
		_ = res.Add(string(sip.HeaderServiceRoute), sr.String())
	}
	return res
}

// quote makes s a quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// String describes the registrar for logs.
func (r *Registrar) String() string {
	return fmt.Sprintf("registrar(domains=%v)", r.Domains)
}
