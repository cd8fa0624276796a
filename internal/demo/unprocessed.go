package demo

import (
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// Unprocessed are the events of a load that never got a success: SQS
// records dead-lettered after maxReceiveCount receives, account events
// that failed every attempt, transfers whose client gave up. Under
// contention on a slow machine some may; that is timing, not a broken
// promise. Their effect may be missing (or present, when an attempt's
// write went through but its answer did not arrive in time), and no other
// event's effect may be.
type Unprocessed struct {
	// Orders and Transactions are the IDs of the orders and transactions
	// of those events.
	Orders, Transactions map[string]bool
	// DeadLettered, FailedEvents and GaveUp count the events.
	DeadLettered, FailedEvents, GaveUp int
}

// unprocessed returns the events of l that the phase p never processed.
func unprocessed(l *Load, p *Phase) (Unprocessed, error) {
	u := Unprocessed{Orders: map[string]bool{}, Transactions: map[string]bool{},
		DeadLettered: len(p.Stock.DeadLettered), FailedEvents: len(p.Accounts.Failed), GaveUp: len(p.Transfers.Failed)}
	var err error
	if u.Orders, err = deadOrders(l.Batches, p.Stock.DeadLettered); err != nil {
		return u, err
	}
	failed := set(p.Accounts.Failed)
	for _, e := range l.Accounts {
		if !failed[e.ID] {
			continue
		}
		tx, err := accounts.FromEvent(e)
		if err != nil {
			return u, err
		}
		u.Transactions[tx.TransactionID] = true
	}
	gaveUp := set(p.Transfers.Failed)
	for _, r := range l.Transfers {
		if !gaveUp[r.RequestContext.RequestID] {
			continue
		}
		tx, err := TransferOf(r)
		if err != nil {
			return u, err
		}
		u.Transactions[tx.TransactionID] = true
	}
	return u, nil
}

// Acknowledged reports whether state's missing orders and transactions
// are all among u's: every event that got a success took effect.
func (u Unprocessed) Acknowledged(state State) (missing int, ok bool) {
	ok = true
	for _, s := range state.SKUs {
		for _, id := range s.Missing {
			missing++
			ok = ok && u.Orders[id]
		}
	}
	for _, a := range state.Accounts {
		for _, id := range a.Missing {
			missing++
			ok = ok && u.Transactions[id]
		}
	}
	return missing, ok
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// loadAverage returns the one-minute load average as /proc/loadavg gives
// it, or "" where there is none (not Linux).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// deadOrders returns the order IDs of the records of batches whose message
// IDs are in dead.
func deadOrders(batches []events.SQSEvent, dead []string) (map[string]bool, error) {
	in := set(dead)
	out := map[string]bool{}
	for _, b := range batches {
		for _, r := range b.Records {
			if !in[r.MessageId] {
				continue
			}
			o, err := stock.ParseOrder(r.Body)
			if err != nil {
				return nil, err
			}
			out[o.OrderID] = true
		}
	}
	return out, nil
}
