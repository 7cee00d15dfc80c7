// Package ua is Parley's user-agent core: building requests as a UAC
// (RFC 3261 §8.1.1) and, in later work, UAS validation (§8.2), CANCEL
// (§9), the registration client (§10.2) and the call API of `parley call`.
//
// This file set currently holds the UAC request construction of §8.1.1:
// Request-URI, To, From with a tag (§8.1.1.3), Call-ID (§8.1.1.4), CSeq
// (§8.1.1.5), Max-Forwards 70 (§8.1.1.6) and Contact (§8.1.1.8); the Via
// with its branch (§8.1.1.7) is added by the stack's Client.
package ua
