// Package dialog keeps SIP dialog state: RFC 3261 §12 (creation by a UAC
// from a 1xx or 2xx with a To tag and by a UAS, the route set from
// Record-Route, local and remote CSeq, remote target refresh, requests
// within a dialog with loose and strict routing, termination).
//
// A Dialog is a plain value guarded by its own mutex; it knows who
// initiated it (Replaces, Join and Target-Dialog need that) and is found
// in a [Registry] by its [ID], early dialogs included. Usages (RFC 5057:
// the INVITE usage, subscription usages) and the INVITE usage's timers
// (2xx retransmission, re-ACK, glare) are built on it in later work.
package dialog
