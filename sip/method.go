package sip

// Method is a SIP request method (RFC 3261 §7.1). Methods are
// case-sensitive tokens; the constants are the methods of RFC 3261 and its
// extensions. Any other token is a valid extension method.
type Method string

// Methods defined by RFC 3261 and the SIP working group's extensions.
const (
	INVITE    Method = "INVITE"    // RFC 3261 §13
	ACK       Method = "ACK"       // RFC 3261 §13.2.2.4, §17.1.1.3
	BYE       Method = "BYE"       // RFC 3261 §15
	CANCEL    Method = "CANCEL"    // RFC 3261 §9
	OPTIONS   Method = "OPTIONS"   // RFC 3261 §11
	REGISTER  Method = "REGISTER"  // RFC 3261 §10
	PRACK     Method = "PRACK"     // RFC 3262
	SUBSCRIBE Method = "SUBSCRIBE" // RFC 6665
	NOTIFY    Method = "NOTIFY"    // RFC 6665
	PUBLISH   Method = "PUBLISH"   // RFC 3903
	INFO      Method = "INFO"      // RFC 6086
	REFER     Method = "REFER"     // RFC 3515
	MESSAGE   Method = "MESSAGE"   // RFC 3428
	UPDATE    Method = "UPDATE"    // RFC 3311
)

// internMethod returns the constant for a known method so that comparisons
// stay cheap and the parsed message does not pin its buffer for them.
func internMethod(s string) Method {
	switch s {
	case "INVITE":
		return INVITE
	case "ACK":
		return ACK
	case "BYE":
		return BYE
	case "CANCEL":
		return CANCEL
	case "OPTIONS":
		return OPTIONS
	case "REGISTER":
		return REGISTER
	case "PRACK":
		return PRACK
	case "SUBSCRIBE":
		return SUBSCRIBE
	case "NOTIFY":
		return NOTIFY
	case "PUBLISH":
		return PUBLISH
	case "INFO":
		return INFO
	case "REFER":
		return REFER
	case "MESSAGE":
		return MESSAGE
	case "UPDATE":
		return UPDATE
	}
	return Method(s)
}

// Known reports whether m is one of the methods defined by RFC 3261 or a
// SIP working group extension (the constants of this package).
func (m Method) Known() bool {
	switch m {
	case INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, PRACK, SUBSCRIBE,
		NOTIFY, PUBLISH, INFO, REFER, MESSAGE, UPDATE:
		return true
	}
	return false
}

// String returns the method token.
func (m Method) String() string { return string(m) }
