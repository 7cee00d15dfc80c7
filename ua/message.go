package ua

import (
	"context"
	"errors"
	"strings"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// Errors of MESSAGE and INFO.
var (
	// ErrTooLarge: RFC 3428 §8 — a MESSAGE body larger than the limit
	// (UA.MaxMessageSize, 1300 bytes by default) is not sent over a
	// transport without congestion control.
	ErrTooLarge = errors.New("ua: MESSAGE body too large for a transport without congestion control (RFC 3428 §8)")
	// ErrInfoPackage: RFC 6086 §4.2.1 — "A UA MUST NOT send an INFO
	// request for an Info Package inside an invite dialog usage if the
	// remote UA has not indicated willingness to receive that Info
	// Package within that dialog."
	ErrInfoPackage = errors.New("ua: the peer did not list this Info Package in Recv-Info")
)

// checkSize applies RFC 3428 §8 to a MESSAGE about to be sent to dest
// (nil: unknown, assumed UDP).
func (u *UA) checkSize(body []byte, dest *transport.Dest) error {
	if len(body) <= u.maxMessage() {
		return nil
	}
	if dest != nil && dest.Network.Reliable() {
		return nil
	}
	return ErrTooLarge
}

// Message sends a MESSAGE (RFC 3428) outside any dialog to target, through
// dest (nil: resolve). A non-2xx final response is returned with a
// *StatusError.
func (u *UA) Message(ctx context.Context, target sip.URI, contentType string, body []byte, dest *transport.Dest) (*sip.Response, error) {
	u.init()
	if err := u.checkSize(body, dest); err != nil {
		return nil, err
	}
	req := NewRequest(sip.MESSAGE, target, u.Identity)
	req.SetBody(contentType, body)
	var opts []stack.Option
	if dest != nil {
		opts = append(opts, stack.WithDest(*dest))
	}
	res, err := u.Client.Do(ctx, req, opts...)
	if err == nil && !res.StatusCode.Success() {
		err = &StatusError{res}
	}
	return res, err
}

// Message sends a MESSAGE within the session's dialog (RFC 3428 §4: "A UA
// MAY send a MESSAGE request within a dialog").
func (s *Session) Message(ctx context.Context, contentType string, body []byte) (*sip.Response, error) {
	s.mu.Lock()
	d := s.current()
	s.mu.Unlock()
	if d == nil {
		return nil, ErrWrongState
	}
	if err := s.ua.checkSize(body, s.destFor(d)); err != nil {
		return nil, err
	}
	req, err := d.NewRequest(sip.MESSAGE)
	if err != nil {
		return nil, ErrSessionEnded
	}
	req.SetBody(contentType, body)
	res, err := s.do(ctx, d, req)
	if err == nil && !res.StatusCode.Success() {
		err = &StatusError{res}
	}
	return res, err
}

// Info sends an INFO (RFC 6086) within the session's dialog for the Info
// Package pkg, which the peer must have listed in Recv-Info
// (ErrInfoPackage otherwise); pkg "" sends a legacy INFO without
// Info-Package (§2). A 469 is a transaction-only failure: the session
// goes on.
func (s *Session) Info(ctx context.Context, pkg, contentType string, body []byte) (*sip.Response, error) {
	s.mu.Lock()
	d := s.current()
	accepted := pkg == ""
	for _, p := range s.remoteInfo {
		if strings.EqualFold(p, pkg) {
			accepted = true
		}
	}
	s.mu.Unlock()
	if d == nil {
		return nil, ErrWrongState
	}
	if !accepted {
		return nil, ErrInfoPackage
	}
	req, err := d.NewRequest(sip.INFO)
	if err != nil {
		return nil, ErrSessionEnded
	}
	if pkg != "" {
		// §4.2.1: "it MUST include an Info-Package header field"; §4.3.1:
		// the body part has Content-Disposition "Info-Package".
		_ = req.Add(string(sip.HeaderInfoPackage), pkg)
		if len(body) > 0 {
			_ = req.Add("Content-Disposition", "Info-Package")
		}
	}
	if len(body) > 0 {
		req.SetBody(contentType, body)
	}
	res, err := s.do(ctx, d, req)
	if err == nil && !res.StatusCode.Success() {
		err = &StatusError{res}
	}
	return res, err
}

// RemoteInfoPackages returns the Info Packages the peer is willing to
// receive (its last Recv-Info).
func (s *Session) RemoteInfoPackages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.remoteInfo...)
}

// serveMessage answers a MESSAGE (RFC 3428 §7), in or out of a dialog:
// "If the UAS receives a MESSAGE request that is larger than it is
// willing to accept, it SHOULD return a 413"; the body type was checked by
// Validate (415). The answer has no body.
func (u *UA) serveMessage(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	var s *Session
	if req.To() != nil && req.To().Tag() != "" {
		if s, _ = u.lookup(w, req); s == nil {
			return
		}
	}
	if len(req.Body) > u.maxMessage() {
		_ = w.Respond(sip.NewResponse(req, sip.StatusRequestEntityTooLarge))
		return
	}
	code := sip.StatusOK
	if u.OnMessage != nil {
		code = u.OnMessage(ctx, s, req)
	}
	_ = w.Respond(sip.NewResponse(req, code))
}

// serveInfo answers an INFO (RFC 6086 §4.2.2): only within an invite
// dialog usage (481 otherwise); "If a UA receives an INFO request
// associated with an Info Package that the UA has not indicated
// willingness to receive, the UA MUST send a 469 (Bad Info Package)
// response ..., which contains a Recv-Info header field with Info
// Packages for which the UA is willing to receive INFO requests";
// otherwise OnInfo decides (200 by default, "if the INFO request is
// syntactically correct and well structured, the UA MUST send a 200").
func (u *UA) serveInfo(ctx context.Context, w stack.ResponseWriter, req *sip.Request) {
	s, _ := u.lookup(w, req)
	if s == nil {
		return
	}
	if pkg := strings.TrimSpace(req.Get(string(sip.HeaderInfoPackage))); pkg != "" {
		if i := strings.IndexByte(pkg, ';'); i >= 0 {
			pkg = strings.TrimSpace(pkg[:i])
		}
		if !u.Capabilities.SupportsInfoPackage(pkg) {
			res := sip.NewResponse(req, sip.StatusBadInfoPackage)
			_ = res.Add(string(sip.HeaderRecvInfo), strings.Join(u.Capabilities.InfoPackages, ", "))
			_ = w.Respond(res)
			return
		}
	}
	code := sip.StatusOK
	if u.OnInfo != nil {
		code = u.OnInfo(ctx, s, req)
	}
	_ = w.Respond(sip.NewResponse(req, code))
}
