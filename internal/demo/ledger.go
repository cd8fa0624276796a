package demo

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// Opening state of the application table, large enough that no order is
// out of stock and no debit declined: every event must change the state.
const (
	InitialStock   = 10_000
	OpeningBalance = 1_000_000 // cents
)

// Ledger is what was sent, and so what the application state must show:
// every order reserved once, every transaction applied once.
type Ledger struct {
	// Orders holds each order's quantity by order ID, by SKU.
	Orders map[string]map[string]int64
	// Transactions holds each transaction's signed amount by ID, by account.
	Transactions map[string]map[string]int64
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{Orders: map[string]map[string]int64{}, Transactions: map[string]map[string]int64{}}
}

// AddSQS records the orders of a batch.
func (l *Ledger) AddSQS(b events.SQSEvent) error {
	for _, r := range b.Records {
		o, err := stock.ParseOrder(r.Body)
		if err != nil {
			return fmt.Errorf("demo: record %s: %w", r.MessageId, err)
		}
		if l.Orders[o.SKU] == nil {
			l.Orders[o.SKU] = map[string]int64{}
		}
		l.Orders[o.SKU][o.OrderID] = o.Quantity
	}
	return nil
}

// AddEvent records the transaction of an account event.
func (l *Ledger) AddEvent(e events.EventBridgeEvent) error {
	tx, err := accounts.FromEvent(e)
	if err != nil {
		return err
	}
	if l.Transactions[tx.AccountID] == nil {
		l.Transactions[tx.AccountID] = map[string]int64{}
	}
	l.Transactions[tx.AccountID][tx.TransactionID] = tx.Amount
	return nil
}

// Seed writes the opening state of every SKU and account in the ledger to
// the application table.
func (l *Ledger) Seed(ctx context.Context, st *stock.Store, acc *accounts.Store) error {
	for _, sku := range sortedKeys(l.Orders) {
		if err := st.Put(ctx, sku, InitialStock); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(l.Transactions) {
		if err := acc.Open(ctx, id, OpeningBalance); err != nil {
			return err
		}
	}
	return nil
}

// SKUState compares a SKU's item with the orders sent for it.
type SKUState struct {
	SKU string
	// Orders and Ordered are the orders sent and the units they asked for.
	Orders  int
	Ordered int64
	// Recorded counts the orders the item lists as reserved; Reserved and
	// Available are its counts.
	Recorded  int
	Reserved  int64
	Available int64
	// RecordedUnits are the units the recorded orders asked for; Unknown
	// counts recorded IDs the ledger does not hold; Missing are the IDs of
	// the ledger's orders the item does not list.
	RecordedUnits int64
	Unknown       int
	Missing       []string
}

// EffectOnce reports whether the SKU's counts are those of the orders it
// lists, each taken once: no update lost, none applied twice. Orders it
// does not list are judged elsewhere (Missing).
func (s SKUState) EffectOnce() bool {
	return s.Unknown == 0 && s.Reserved == s.RecordedUnits && s.Available == InitialStock-s.Reserved
}

// LostUnits is how many ordered units the item's count misses: units
// promised to orders but never taken from stock, so sold twice.
func (s SKUState) LostUnits() int64 { return s.Ordered - s.Reserved }

// OK reports whether every order was reserved exactly once.
func (s SKUState) OK() bool {
	return s.Recorded == s.Orders && s.Reserved == s.Ordered && s.Available == InitialStock-s.Ordered
}

// AccountState compares an account's balance with the transactions sent.
type AccountState struct {
	Account      string
	Transactions int
	Applied      int
	Expected     int64
	Balance      int64
	// AppliedAmount sums the applied transactions' amounts; Unknown counts
	// applied IDs the ledger does not hold; Missing are the IDs of the
	// ledger's transactions the account does not list.
	AppliedAmount int64
	Unknown       int
	Missing       []string
}

// EffectOnce reports whether the balance is the opening balance plus the
// transactions the account lists as applied, each once.
func (a AccountState) EffectOnce() bool {
	return a.Unknown == 0 && a.Balance == OpeningBalance+a.AppliedAmount
}

// LostCents is how far the balance is from what the transactions make it.
func (a AccountState) LostCents() int64 { return a.Expected - a.Balance }

// OK reports whether every transaction was applied exactly once.
func (a AccountState) OK() bool { return a.Applied == a.Transactions && a.Balance == a.Expected }

// State is the application table compared with a ledger.
type State struct {
	SKUs     []SKUState
	Accounts []AccountState
	Rollup   rollup.State
}

// Compare reads the application table and compares it with the ledger.
func (l *Ledger) Compare(ctx context.Context, st *stock.Store, acc *accounts.Store, job *rollup.Job) (State, error) {
	var s State
	for _, sku := range sortedKeys(l.Orders) {
		it, err := st.Get(ctx, sku)
		if err != nil {
			return s, err
		}
		ss := SKUState{SKU: sku, Orders: len(l.Orders[sku]), Recorded: len(it.Orders), Reserved: it.Reserved, Available: it.Available}
		for _, q := range l.Orders[sku] {
			ss.Ordered += q
		}
		ss.RecordedUnits, ss.Unknown, ss.Missing = tally(l.Orders[sku], it.Orders)
		s.SKUs = append(s.SKUs, ss)
	}
	for _, id := range sortedKeys(l.Transactions) {
		a, err := acc.Get(ctx, id)
		if err != nil {
			return s, err
		}
		as := AccountState{Account: id, Transactions: len(l.Transactions[id]), Applied: len(a.Applied), Expected: OpeningBalance, Balance: a.Balance}
		for _, amt := range l.Transactions[id] {
			as.Expected += amt
		}
		as.AppliedAmount, as.Unknown, as.Missing = tally(l.Transactions[id], a.Applied)
		s.Accounts = append(s.Accounts, as)
	}
	var err error
	s.Rollup, err = job.Get(ctx)
	return s, err
}

// OK reports whether every SKU and account is as the ledger says.
func (s State) OK() bool {
	for _, x := range s.SKUs {
		if !x.OK() {
			return false
		}
	}
	for _, a := range s.Accounts {
		if !a.OK() {
			return false
		}
	}
	return true
}

// LostUnits sums the SKUs' lost units.
func (s State) LostUnits() (n int64) {
	for _, x := range s.SKUs {
		n += x.LostUnits()
	}
	return n
}

// Total is the sum of the accounts' balances.
func (s State) Total() (n int64) {
	for _, a := range s.Accounts {
		n += a.Balance
	}
	return n
}

// tally sums the amounts in sent of the IDs in got, counts the IDs of got
// that sent lacks, and returns the IDs of sent that got lacks, sorted.
func tally(sent map[string]int64, got []string) (sum int64, unknown int, missing []string) {
	in := make(map[string]bool, len(got))
	for _, id := range got {
		in[id] = true
		amt, ok := sent[id]
		if !ok {
			unknown++
		}
		sum += amt
	}
	for _, id := range sortedKeys(sent) {
		if !in[id] {
			missing = append(missing, id)
		}
	}
	return sum, unknown, missing
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
