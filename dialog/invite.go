package dialog

import (
	"context"
	"errors"
	"time"

	"github.com/parleysip/parley/transaction"
)

// ErrNoAck is returned by [Retransmit2xx] when no ACK arrived within
// 64·T1. §13.3.1.4: "If the server retransmits the 2xx response for 64*T1
// seconds without receiving an ACK, the dialog is confirmed, but the
// session SHOULD be terminated. This is accomplished with a BYE".
var ErrNoAck = errors.New("dialog: no ACK for the 2xx within 64*T1")

// Retransmit2xx is the UAS core's 2xx retransmission of §13.3.1.4: the
// transaction layer sends a 2xx once (RFC 6026 Accepted state), and the
// core must send it again "with an interval that starts at T1 seconds and
// doubles for each retransmission until it reaches T2 seconds" until the
// ACK arrives. reliable says the 2xx went over a reliable transport, where
// the retransmissions are not sent (the ACK is still awaited for 64·T1).
//
// send re-sends the response (through ServerTx.Respond, which passes 2xx
// retransmissions to the transport in the Accepted state); acked is
// closed by the caller when the ACK is received (see Dialog.AckFor). It
// returns nil on ACK, ErrNoAck after 64·T1, or ctx's error.
func Retransmit2xx(ctx context.Context, t transaction.Timers, reliable bool, send func() error, acked <-chan struct{}) error {
	giveUp := time.NewTimer(64 * t.A())
	defer giveUp.Stop()
	t2 := t.T2
	if t2 <= 0 {
		t2 = transaction.DefaultT2
	}
	interval := t.A() // T1
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-acked:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-giveUp.C:
			return ErrNoAck
		case <-tick.C:
			if !reliable {
				if err := send(); err != nil {
					return err
				}
			}
			interval = min(2*interval, t2)
			tick.Reset(interval)
		}
	}
}
