package ua

import (
	"context"
	"strings"

	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
)

// Capabilities is the one registry of what a user agent supports: methods,
// option tags, event packages and body types. It builds the Allow,
// Supported, Allow-Events and Accept headers and drives the checks of
// RFC 3261 §8.2; every extension registers in it.
type Capabilities struct {
	// Methods are the methods handled (Allow). ACK and CANCEL are always
	// understood.
	Methods []sip.Method
	// OptionTags are the extensions supported (Supported; §8.2.2.3 checks
	// Require against them).
	OptionTags []string
	// Events are the event packages accepted (Allow-Events, RFC 6665).
	Events []string
	// Accept are the body types understood (§8.2.3); empty means
	// application/sdp.
	Accept []string
	// InfoPackages are the Info Packages this UA is willing to receive
	// (RFC 6086 §5: Recv-Info); an INFO for another one gets 469.
	InfoPackages []string
	// Required are the extensions this UA insists on, by method: a request
	// of that method whose Supported and Require lack one of them gets 421
	// Extension Required with a Require listing them (§21.4.16; e.g. RFC
	// 3262 §3 for a UAS that will only send reliable provisionals). Set it
	// with [Capabilities.AddRequired].
	Required map[sip.Method][]string
	// Local reports whether a Request-URI identifies this UA. A request for
	// another target would have to be forwarded, so with Max-Forwards 0 it
	// gets 483 Too Many Hops (§8.2 with §16.3 step 3, RFC 4475 §3.3.1's
	// application case); OPTIONS for another target too (§11, only a target
	// answers OPTIONS with Max-Forwards 0). Nil means every Request-URI is
	// this UA's.
	Local func(sip.URI) bool
}

// AddRequired makes tags required of requests of method m (421, §21.4.16);
// they are registered as supported too.
func (c *Capabilities) AddRequired(m sip.Method, tags ...string) {
	if c.Required == nil {
		c.Required = map[sip.Method][]string{}
	}
	c.Required[m] = addUnique(c.Required[m], tags...)
	c.AddOptionTags(tags...)
}

// addUnique appends the values of add not yet in list (compared without
// regard to case).
func addUnique(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, x := range list {
			if abnf.EqualFold(x, a) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// AddMethods registers methods (Allow).
func (c *Capabilities) AddMethods(ms ...sip.Method) {
	for _, m := range ms {
		if !contains(c.Methods, m) {
			c.Methods = append(c.Methods, m)
		}
	}
}

func contains(ms []sip.Method, m sip.Method) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// AddOptionTags registers extensions (Supported).
func (c *Capabilities) AddOptionTags(tags ...string) { c.OptionTags = addUnique(c.OptionTags, tags...) }

// AddEvents registers event packages (Allow-Events).
func (c *Capabilities) AddEvents(events ...string) { c.Events = addUnique(c.Events, events...) }

// AddAccept registers body types (Accept). The first call replaces the
// implicit application/sdp default, so list it again if it is wanted.
func (c *Capabilities) AddAccept(types ...string) { c.Accept = addUnique(c.Accept, types...) }

// AddInfoPackages registers Info Packages this UA receives (Recv-Info,
// RFC 6086 §5).
func (c *Capabilities) AddInfoPackages(pkgs ...string) {
	c.InfoPackages = addUnique(c.InfoPackages, pkgs...)
}

// SupportsInfoPackage reports whether pkg is registered.
func (c *Capabilities) SupportsInfoPackage(pkg string) bool {
	for _, p := range c.InfoPackages {
		if abnf.EqualFold(p, pkg) {
			return true
		}
	}
	return false
}

// Supports reports whether the option tag is registered.
func (c *Capabilities) Supports(tag string) bool { return c.supports(tag) }

func (c *Capabilities) accept() []string {
	if len(c.Accept) == 0 {
		return []string{"application/sdp"}
	}
	return c.Accept
}

// Allow returns the Allow header value.
func (c *Capabilities) Allow() string {
	names := make([]string, 0, len(c.Methods)+2)
	seen := map[sip.Method]bool{}
	for _, m := range append([]sip.Method{sip.ACK, sip.CANCEL}, c.Methods...) {

		if !seen[m] {
			seen[m] = true
			names = append(names, string(m))
		}
	}
	return strings.Join(names, ", ")
}

// AddHeaders adds Allow, Supported, Accept and Allow-Events to res (for an
// OPTIONS answer, §11.2, or a 405).
func (c *Capabilities) AddHeaders(res *sip.Response) {
	_ = res.Add(string(sip.HeaderAllow), c.Allow())
	if len(c.OptionTags) > 0 {
		_ = res.Add(string(sip.HeaderSupported), strings.Join(c.OptionTags, ", "))
	}
	_ = res.Add(string(sip.HeaderAccept), strings.Join(c.accept(), ", "))
	if len(c.Events) > 0 {
		_ = res.Add(string(sip.HeaderAllowEvents), strings.Join(c.Events, ", "))
	}
}

func (c *Capabilities) handles(m sip.Method) bool {
	if m == sip.ACK || m == sip.CANCEL {
		return true
	}
	for _, x := range c.Methods {
		if x == m {
			return true
		}
	}
	return false
}

func (c *Capabilities) supports(tag string) bool {
	for _, t := range c.OptionTags {
		if abnf.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

func (c *Capabilities) accepts(ct string) bool {
	typ, sub, _, err := sip.MediaType(ct)
	if err != nil {
		return false
	}
	for _, a := range c.accept() {
		at, as, _, err := sip.MediaType(a)
		if err == nil && abnf.EqualFold(at, typ) && abnf.EqualFold(as, sub) {
			return true
		}
	}
	return false
}

// Validate returns the middleware of the UAS checks of RFC 3261 §8.2, in
// the RFC's order; a request that fails one is answered and not passed on:
//
//   - §8.2.1 method inspection: an unknown method gets 501 Not Implemented
//     (RFC 4475 §3.1.1.2), a known one this UA does not handle 405 Method
//     Not Allowed, both with Allow;
//   - §8.2.2.1: a Request-URI scheme other than sip, sips or tel gets 416
//     (RFC 4475 §3.3.2, §3.3.3);
//   - with [Capabilities.Local] set, a request for another target with
//     Max-Forwards 0 gets 483 (§16.3 step 3);
//   - §8.2.2.2: a merged request (same From tag, Call-ID and CSeq as a
//     live transaction, another branch, no To tag) gets 482;
//   - §8.2.2.3: a Require with an unsupported option tag gets 420 with
//     Unsupported listing them (RFC 4475 §3.3.5); a request lacking an
//     extension in [Capabilities.Required] gets 421 with Require;
//   - §8.2.3: a body of a type not in Accept gets 415 with Accept (RFC
//     4475 §3.3.6), a Content-Encoding other than identity 415 with
//     Accept-Encoding, and an INVITE whose Accept excludes every type this UA
//     can answer with gets 406 (RFC 4475 §3.3.15).
//
// OPTIONS is answered 200 with the capabilities (§11.2).
func Validate(c *Capabilities, layer *transaction.Layer) stack.Middleware {
	return func(next stack.Handler) stack.Handler {
		return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			if res := c.check(r, layer); res != nil {
				_ = w.Respond(res)
				return
			}
			if r.Method == sip.OPTIONS {
				res := sip.NewResponse(r, sip.StatusOK)
				c.AddHeaders(res)
				_ = w.Respond(res)
				return
			}
			next.ServeSIP(ctx, w, r)
		})
	}
}

// Check returns the response §8.2 requires for r, or nil when r passes.
func (c *Capabilities) Check(r *sip.Request) *sip.Response { return c.check(r, nil) }

func (c *Capabilities) check(r *sip.Request, layer *transaction.Layer) *sip.Response {
	if r.Method == sip.ACK {
		return nil
	}
	// §8.2.1: "If a UAS does not understand a request method, it MUST
	// respond with a 501 (Not Implemented) response"; "If the UAS
	// recognizes but does not support the method of a request, it MUST
	// respond with a 405 (Method Not Allowed) ... The UAS MUST also add an
	// Allow header field to the 405".
	if !c.handles(r.Method) && r.Method != sip.OPTIONS {
		code := sip.StatusMethodNotAllowed
		if !r.Method.Known() {
			code = sip.StatusNotImplemented
		}
		res := sip.NewResponse(r, code)
		_ = res.Add(string(sip.HeaderAllow), c.Allow())
		return res
	}
	// §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS,
	// it SHOULD reject the request with a 416 (Unsupported URI Scheme)".
	if !r.URI.Known() {
		return sip.NewResponse(r, sip.StatusUnsupportedURIScheme)
	}
	// A request this UA would have to forward, with no hops left (§16.3
	// step 3: "If the request does not contain a Max-Forwards header field
	// ... If the Max-Forwards value is 0 ... the element MUST NOT forward
	// the request ... and MUST return a 483").
	if c.Local != nil && !c.Local(r.URI) {
		if mf, ok := r.MaxForwards(); ok && mf == 0 {
			return sip.NewResponse(r, sip.StatusTooManyHops)
		}
	}
	// §8.2.2.2: "If the request has no tag in the To header field, the UAS
	// core MUST check the request against ongoing transactions. If the From
	// tag, Call-ID, and CSeq exactly match those associated with an ongoing
	// transaction, but the request does not match that transaction ..., the
	// UAS core SHOULD generate a 482 (Loop Detected) response".
	if layer != nil && (r.To() == nil || r.To().Tag() == "") && layer.Merged(r) {
		return sip.NewResponse(r, sip.StatusLoopDetected)
	}
	// §8.2.2.3: "If a UAS does not understand an option-tag listed in a
	// Require header field, it MUST respond by generating a response with
	// status code 420 (Bad Extension). The UAS MUST add an Unsupported
	// header field".
	if r.Method != sip.CANCEL {
		var unsupported []string
		for tag := range r.Values(string(sip.HeaderRequire)) {
			if !c.supports(tag) {
				unsupported = append(unsupported, tag)
			}
		}
		if len(unsupported) > 0 {
			res := sip.NewResponse(r, sip.StatusBadExtension)
			_ = res.Add(string(sip.HeaderUnsupported), strings.Join(unsupported, ", "))
			return res
		}
	}
	// §21.4.16: "The UAS needs a particular extension to process the
	// request, but this extension is not listed in a Supported header field
	// in the request. Responses with this status code MUST contain a
	// Require header field listing the required extensions."
	if need := c.Required[r.Method]; len(need) > 0 {
		var missing []string
		for _, tag := range need {
			if !r.HasOptionTag(string(sip.HeaderSupported), tag) && !r.HasOptionTag(string(sip.HeaderRequire), tag) {
				missing = append(missing, tag)
			}
		}
		if len(missing) > 0 {
			res := sip.NewResponse(r, sip.StatusExtensionRequired)
			_ = res.Add(string(sip.HeaderRequire), strings.Join(missing, ", "))
			return res
		}
	}
	// §8.2.3: "If the UAS does not understand the content type ..., it
	// MUST reject the request with a 415 (Unsupported Media Type) response.
	// The response MUST contain an Accept header field".
	if len(r.Body) > 0 {
		if ct := r.ContentType(); ct == "" || !c.accepts(ct) {
			res := sip.NewResponse(r, sip.StatusUnsupportedMediaType)
			_ = res.Add(string(sip.HeaderAccept), strings.Join(c.accept(), ", "))
			return res
		}
	}
	// §8.2.3: "If the UAS does not understand the content encoding ...,
	// it MUST reject the request with a 415 (Unsupported Media Type)
	// response. The response MUST contain an Accept-Encoding header field
	// listing the encodings understood by the UAS." Only the identity
	// encoding is understood.
	for enc := range r.Values(string(sip.HeaderContentEncoding)) {
		if !abnf.EqualFold(strings.TrimSpace(enc), "identity") {
			res := sip.NewResponse(r, sip.StatusUnsupportedMediaType)
			_ = res.Add(string(sip.HeaderAcceptEncoding), "identity")
			return res
		}
	}
	// §21.4.7 / RFC 4475 §3.3.15: an INVITE whose Accept excludes every
	// body type this UA could answer with gets 406.
	if r.Method == sip.INVITE && r.Has(string(sip.HeaderAccept)) {
		ok := false
		for a := range r.Values(string(sip.HeaderAccept)) {
			if c.accepts(a) || strings.HasPrefix(strings.TrimSpace(a), "*/*") {
				ok = true
				break
			}
		}
		if !ok {
			res := sip.NewResponse(r, sip.StatusNotAcceptable)
			_ = res.Add(string(sip.HeaderWarning), `399 parley "only application/sdp bodies are available"`)
			return res
		}
	}
	return nil
}
