// Package abnf holds the byte-level scanners shared by the SIP codec: the
// character classes and small productions of RFC 3261 §25.1 (token, LWS,
// quoted-string, escaped, the URI character sets of §25.1 and §19.1) and
// ASCII case folding. It imports only the standard library, allocates
// nothing, and works on strings (the codec parses from one immutable copy
// of each message).
package abnf
