package sip

import "strconv"

// StatusCode is a SIP response status code, 100 to 699 (RFC 3261 §7.2, §21).
type StatusCode int

// Status codes registered for SIP, with the RFC section that defines each.
const (
	StatusTrying                StatusCode = 100 // RFC 3261 §21.1.1
	StatusRinging               StatusCode = 180 // RFC 3261 §21.1.2
	StatusCallIsBeingForwarded  StatusCode = 181 // RFC 3261 §21.1.3
	StatusQueued                StatusCode = 182 // RFC 3261 §21.1.4
	StatusSessionProgress       StatusCode = 183 // RFC 3261 §21.1.5
	StatusEarlyDialogTerminated StatusCode = 199 // RFC 6228 §11.1

	StatusOK             StatusCode = 200 // RFC 3261 §21.2.1
	StatusAccepted       StatusCode = 202 // RFC 6665 §8.3.1 (deprecated for SUBSCRIBE)
	StatusNoNotification StatusCode = 204 // RFC 5839 §8.3.1

	StatusMultipleChoices    StatusCode = 300 // RFC 3261 §21.3.1
	StatusMovedPermanently   StatusCode = 301 // RFC 3261 §21.3.2
	StatusMovedTemporarily   StatusCode = 302 // RFC 3261 §21.3.3
	StatusUseProxy           StatusCode = 305 // RFC 3261 §21.3.4
	StatusAlternativeService StatusCode = 380 // RFC 3261 §21.3.5

	StatusBadRequest                  StatusCode = 400 // RFC 3261 §21.4.1
	StatusUnauthorized                StatusCode = 401 // RFC 3261 §21.4.2
	StatusPaymentRequired             StatusCode = 402 // RFC 3261 §21.4.3
	StatusForbidden                   StatusCode = 403 // RFC 3261 §21.4.4
	StatusNotFound                    StatusCode = 404 // RFC 3261 §21.4.5
	StatusMethodNotAllowed            StatusCode = 405 // RFC 3261 §21.4.6
	StatusNotAcceptable               StatusCode = 406 // RFC 3261 §21.4.7
	StatusProxyAuthenticationRequired StatusCode = 407 // RFC 3261 §21.4.8
	StatusRequestTimeout              StatusCode = 408 // RFC 3261 §21.4.9
	StatusConflict                    StatusCode = 409 // RFC 2543 (removed in RFC 3261)
	StatusGone                        StatusCode = 410 // RFC 3261 §21.4.10
	StatusConditionalRequestFailed    StatusCode = 412 // RFC 3903 §11.2.1
	StatusRequestEntityTooLarge       StatusCode = 413 // RFC 3261 §21.4.11
	StatusRequestURITooLong           StatusCode = 414 // RFC 3261 §21.4.12
	StatusUnsupportedMediaType        StatusCode = 415 // RFC 3261 §21.4.13
	StatusUnsupportedURIScheme        StatusCode = 416 // RFC 3261 §21.4.14
	StatusUnknownResourcePriority     StatusCode = 417 // RFC 4412 §12.4
	StatusBadExtension                StatusCode = 420 // RFC 3261 §21.4.15
	StatusExtensionRequired           StatusCode = 421 // RFC 3261 §21.4.16
	StatusSessionIntervalTooSmall     StatusCode = 422 // RFC 4028 §6
	StatusIntervalTooBrief            StatusCode = 423 // RFC 3261 §21.4.17
	StatusUseIdentityHeader           StatusCode = 428 // RFC 8224 §6.2.2
	StatusProvideReferrerIdentity     StatusCode = 429 // RFC 3892 §5
	StatusFlowFailed                  StatusCode = 430 // RFC 5626 §11.5
	StatusAnonymityDisallowed         StatusCode = 433 // RFC 5079 §5
	StatusBadIdentityInfo             StatusCode = 436 // RFC 8224 §13.2
	StatusUnsupportedCredential       StatusCode = 437 // RFC 8224 §13.2
	StatusInvalidIdentityHeader       StatusCode = 438 // RFC 8224 §13.2
	StatusFirstHopLacksOutbound       StatusCode = 439 // RFC 5626 §11.5
	StatusMaxBreadthExceeded          StatusCode = 440 // RFC 5393 §5.9
	StatusBadInfoPackage              StatusCode = 469 // RFC 6086 §11.6
	StatusConsentNeeded               StatusCode = 470 // RFC 5360 §5.9.2
	StatusTemporarilyUnavailable      StatusCode = 480 // RFC 3261 §21.4.18
	StatusCallTransactionDoesNotExist StatusCode = 481 // RFC 3261 §21.4.19
	StatusLoopDetected                StatusCode = 482 // RFC 3261 §21.4.20
	StatusTooManyHops                 StatusCode = 483 // RFC 3261 §21.4.21
	StatusAddressIncomplete           StatusCode = 484 // RFC 3261 §21.4.22
	StatusAmbiguous                   StatusCode = 485 // RFC 3261 §21.4.23
	StatusBusyHere                    StatusCode = 486 // RFC 3261 §21.4.24
	StatusRequestTerminated           StatusCode = 487 // RFC 3261 §21.4.25
	StatusNotAcceptableHere           StatusCode = 488 // RFC 3261 §21.4.26
	StatusBadEvent                    StatusCode = 489 // RFC 6665 §8.3.2
	StatusRequestPending              StatusCode = 491 // RFC 3261 §21.4.27
	StatusUndecipherable              StatusCode = 493 // RFC 3261 §21.4.28
	StatusSecurityAgreementRequired   StatusCode = 494 // RFC 3329 §6.4

	StatusServerInternalError StatusCode = 500 // RFC 3261 §21.5.1
	StatusNotImplemented      StatusCode = 501 // RFC 3261 §21.5.2
	StatusBadGateway          StatusCode = 502 // RFC 3261 §21.5.3
	StatusServiceUnavailable  StatusCode = 503 // RFC 3261 §21.5.4
	StatusServerTimeout       StatusCode = 504 // RFC 3261 §21.5.5
	StatusVersionNotSupported StatusCode = 505 // RFC 3261 §21.5.6
	StatusMessageTooLarge     StatusCode = 513 // RFC 3261 §21.5.7
	StatusPreconditionFailure StatusCode = 580 // RFC 3312 §8

	StatusBusyEverywhere        StatusCode = 600 // RFC 3261 §21.6.1
	StatusDecline               StatusCode = 603 // RFC 3261 §21.6.2
	StatusDoesNotExistAnywhere  StatusCode = 604 // RFC 3261 §21.6.3
	StatusNotAcceptableAnywhere StatusCode = 606 // RFC 3261 §21.6.4
)

var statusText = map[StatusCode]string{
	StatusTrying:                "Trying",
	StatusRinging:               "Ringing",
	StatusCallIsBeingForwarded:  "Call Is Being Forwarded",
	StatusQueued:                "Queued",
	StatusSessionProgress:       "Session Progress",
	StatusEarlyDialogTerminated: "Early Dialog Terminated",

	StatusOK:             "OK",
	StatusAccepted:       "Accepted",
	StatusNoNotification: "No Notification",

	StatusMultipleChoices:    "Multiple Choices",
	StatusMovedPermanently:   "Moved Permanently",
	StatusMovedTemporarily:   "Moved Temporarily",
	StatusUseProxy:           "Use Proxy",
	StatusAlternativeService: "Alternative Service",

	StatusBadRequest:                  "Bad Request",
	StatusUnauthorized:                "Unauthorized",
	StatusPaymentRequired:             "Payment Required",
	StatusForbidden:                   "Forbidden",
	StatusNotFound:                    "Not Found",
	StatusMethodNotAllowed:            "Method Not Allowed",
	StatusNotAcceptable:               "Not Acceptable",
	StatusProxyAuthenticationRequired: "Proxy Authentication Required",
	StatusRequestTimeout:              "Request Timeout",
	StatusConflict:                    "Conflict",
	StatusGone:                        "Gone",
	StatusConditionalRequestFailed:    "Conditional Request Failed",
	StatusRequestEntityTooLarge:       "Request Entity Too Large",
	StatusRequestURITooLong:           "Request-URI Too Long",
	StatusUnsupportedMediaType:        "Unsupported Media Type",
	StatusUnsupportedURIScheme:        "Unsupported URI Scheme",
	StatusUnknownResourcePriority:     "Unknown Resource-Priority",
	StatusBadExtension:                "Bad Extension",
	StatusExtensionRequired:           "Extension Required",
	StatusSessionIntervalTooSmall:     "Session Interval Too Small",
	StatusIntervalTooBrief:            "Interval Too Brief",
	StatusUseIdentityHeader:           "Use Identity Header",
	StatusProvideReferrerIdentity:     "Provide Referrer Identity",
	StatusFlowFailed:                  "Flow Failed",
	StatusAnonymityDisallowed:         "Anonymity Disallowed",
	StatusBadIdentityInfo:             "Bad Identity Info",
	StatusUnsupportedCredential:       "Unsupported Credential",
	StatusInvalidIdentityHeader:       "Invalid Identity Header",
	StatusFirstHopLacksOutbound:       "First Hop Lacks Outbound Support",
	StatusMaxBreadthExceeded:          "Max-Breadth Exceeded",
	StatusBadInfoPackage:              "Bad Info Package",
	StatusConsentNeeded:               "Consent Needed",
	StatusTemporarilyUnavailable:      "Temporarily Unavailable",
	StatusCallTransactionDoesNotExist: "Call/Transaction Does Not Exist",
	StatusLoopDetected:                "Loop Detected",
	StatusTooManyHops:                 "Too Many Hops",
	StatusAddressIncomplete:           "Address Incomplete",
	StatusAmbiguous:                   "Ambiguous",
	StatusBusyHere:                    "Busy Here",
	StatusRequestTerminated:           "Request Terminated",
	StatusNotAcceptableHere:           "Not Acceptable Here",
	StatusBadEvent:                    "Bad Event",
	StatusRequestPending:              "Request Pending",
	StatusUndecipherable:              "Undecipherable",
	StatusSecurityAgreementRequired:   "Security Agreement Required",

	StatusServerInternalError: "Server Internal Error",
	StatusNotImplemented:      "Not Implemented",
	StatusBadGateway:          "Bad Gateway",
	StatusServiceUnavailable:  "Service Unavailable",
	StatusServerTimeout:       "Server Time-out",
	StatusVersionNotSupported: "Version Not Supported",
	StatusMessageTooLarge:     "Message Too Large",
	StatusPreconditionFailure: "Precondition Failure",

	StatusBusyEverywhere:        "Busy Everywhere",
	StatusDecline:               "Decline",
	StatusDoesNotExistAnywhere:  "Does Not Exist Anywhere",
	StatusNotAcceptableAnywhere: "Not Acceptable Anywhere",
}

// StatusText returns the reason phrase the RFCs give for code, or "" for an
// unregistered code.
func StatusText(code StatusCode) string { return statusText[code] }

// String returns the code and its reason phrase, e.g. "486 Busy Here".
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if t := statusText[c]; t != "" {
		s += " " + t
	}
	return s
}

// Provisional reports whether c is a 1xx response.
func (c StatusCode) Provisional() bool { return c >= 100 && c < 200 }

// Success reports whether c is a 2xx response.
func (c StatusCode) Success() bool { return c >= 200 && c < 300 }

// Final reports whether c is a final response (200–699).
func (c StatusCode) Final() bool { return c >= 200 && c < 700 }

// Class returns the hundreds digit of c (1 to 6), the response class of
// RFC 3261 §7.2.
func (c StatusCode) Class() int { return int(c) / 100 }
