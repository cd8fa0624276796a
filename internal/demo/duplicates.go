package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
)

// Duplicates is what became of the duplicates scenario, with idempotency
// (the functions' default) or without it (DYNALOCK_IDEMPOTENCY=false).
type Duplicates struct {
	Idempotent bool
	// Orders and Events are the distinct orders and account events sent;
	// OrderDeliveries and EventDeliveries how many times in all.
	Orders, OrderDeliveries, Events, EventDeliveries int
	// Answered counts duplicates answered from the store (the Duplicates
	// metric), by function.
	Answered map[string]int64
	// SameAnswers counts account-events duplicates whose output was the
	// first delivery's, of AccountAnswers compared.
	SameAnswers, AccountAnswers int
	// Requests are the DynamoDB requests per event of each step, by
	// operation: a new order or event, and a duplicate of a completed one.
	NewOrder, DupOrder, NewEvent, DupEvent map[string]float64
	State                                  State
	// Unacked are the IDs of the orders and transactions of deliveries
	// that never got a success (dead-lettered, or failed every attempt).
	Unacked map[string]bool
}

// RunDuplicates delivers orders and account events of their own several
// times: each order of samples' first copy once, then again after it was
// reserved; each order of the second copy twice at once, then once more
// after; the account events likewise. The functions reach DynamoDB
// through a proxy that counts their requests per step, and lock in a lock
// table of their own, so that runs with and without idempotency may go
// side by side.
func (s *Stack) RunDuplicates(ctx context.Context, samples *Samples, table string, n int, work time.Duration, idempotent bool) (*Duplicates, error) {
	d := &Duplicates{Idempotent: idempotent, Answered: map[string]int64{}, Unacked: map[string]bool{}}
	suffix := "-dup"
	if !idempotent {
		suffix = "-dup-off"
	}
	var first, second []events.SQSEvent
	for _, sm := range samples.SQS {
		for c, dst := range map[int]*[]events.SQSEvent{1: &first, 2: &second} {
			b, err := CopySQS(sm, c)
			if err != nil {
				return nil, err
			}
			if b.Records, err = renamedRecords(b.Records, suffix); err != nil {
				return nil, err
			}
			*dst = append(*dst, b)
		}
	}
	var evFirst, evSecond []events.EventBridgeEvent
	for _, sm := range samples.Accounts {
		for c, dst := range map[int]*[]events.EventBridgeEvent{1: &evFirst, 2: &evSecond} {
			e, err := CopyEvent(sm, c)
			if err != nil {
				return nil, err
			}
			// Events and transactions of their own: the lock table
			// remembers the load's, and would answer them from the store.
			e.ID += suffix
			if e, err = ownTransaction(e, suffix); err != nil {
				return nil, err
			}
			*dst = append(*dst, e)
		}
	}
	led := NewLedger()
	for _, b := range slices.Concat(first, second) {
		if err := led.AddSQS(b); err != nil {
			return nil, err
		}
	}
	for _, e := range slices.Concat(evFirst, evSecond) {
		if err := led.AddEvent(e); err != nil {
			return nil, err
		}
	}
	locks, err := s.NewLockTable(ctx, strings.TrimPrefix(suffix, "-"))
	if err != nil {
		return nil, err
	}
	if err := s.CreateAppTable(ctx, table); err != nil {
		return nil, err
	}
	apps := s.AppsOf(table)
	if err := led.Seed(ctx, apps.Stock, apps.Accounts); err != nil {
		return nil, err
	}
	proxy, err := newCountingProxy(s.DB.Endpoint)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	env := map[string]string{"LOCK_TABLE": locks, "WORK_DELAY": work.String(), "DYNALOCK_IDEMPOTENCY": fmt.Sprint(idempotent), "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}
	stockFn, err := s.Start(ctx, ReserveStock, table, n, env)
	if err != nil {
		return nil, err
	}
	accFn, err := s.Start(ctx, AccountEvents, table, n, env)
	if err != nil {
		return nil, err
	}
	q := StackQueue()
	d.Orders, d.Events = records(first)+records(second), len(evFirst)+len(evSecond)
	step := func(per int, f func() error) (map[string]float64, error) {
		proxy.reset()
		if err := f(); err != nil {
			return nil, err
		}
		return proxy.per(per), nil
	}
	sqs := func(bs ...[]events.SQSEvent) func() error {
		return func() error {
			var all []events.SQSEvent
			for i, b := range bs {
				again, err := redeliveries(b, i)
				if err != nil {
					return err
				}
				all = append(all, again...)
				d.OrderDeliveries += records(b)
			}
			res, err := DeliverSQS(ctx, stockFn, all, q)
			if err != nil {
				return err
			}
			dead, err := deadOrders(all, res.DeadLettered)
			for id := range dead {
				d.Unacked[id] = true
			}
			return err
		}
	}
	seen := map[string]json.RawMessage{} // each event's first output
	fire := func(evs []events.EventBridgeEvent, copies int) func() error {
		return func() error {
			var all []events.EventBridgeEvent
			for range copies {
				all = append(all, evs...)
			}
			d.EventDeliveries += len(all)
			res, err := FireEvents(ctx, accFn, all, 2, 200*time.Millisecond)
			if err != nil {
				return err
			}
			failed := set(res.Failed)
			for _, e := range all {
				if !failed[e.ID] {
					continue
				}
				tx, err := accounts.FromEvent(e)
				if err != nil {
					return err
				}
				d.Unacked[tx.TransactionID] = true
			}
			for i, out := range res.Outputs {
				if out == nil {
					continue
				}
				if prev, ok := seen[all[i].ID]; ok {
					d.AccountAnswers++
					if bytes.Equal(prev, out) {
						d.SameAnswers++
					}
				} else {
					seen[all[i].ID] = out
				}
			}
			return nil
		}
	}
	if d.NewOrder, err = step(records(first), sqs(first)); err != nil {
		return nil, err
	}
	if d.DupOrder, err = step(records(first), sqs(first)); err != nil {
		return nil, err
	}
	if _, err = step(1, sqs(second, second)); err != nil {
		return nil, err
	}
	if _, err = step(1, sqs(second)); err != nil {
		return nil, err
	}
	if d.NewEvent, err = step(len(evFirst), fire(evFirst, 1)); err != nil {
		return nil, err
	}
	if d.DupEvent, err = step(len(evFirst), fire(evFirst, 1)); err != nil {
		return nil, err
	}
	if _, err = step(1, fire(evSecond, 2)); err != nil {
		return nil, err
	}
	if _, err = step(1, fire(evSecond, 1)); err != nil {
		return nil, err
	}
	for _, f := range []*Function{stockFn, accFn} {
		f.Stop()
		d.Answered[f.Name] = f.Metrics().Duplicates.Load()
	}
	if d.State, err = led.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return nil, err
	}
	return d, nil
}

// renamedRecords gives records orders of their own (suffix on orderId),
// so that the scenario's orders are new to the lock table.
func renamedRecords(recs []events.SQSMessage, suffix string) ([]events.SQSMessage, error) {
	out, err := renamed([]events.SQSEvent{{Records: recs}}, suffix)
	if err != nil {
		return nil, err
	}
	return out[0].Records, nil
}

// ownTransaction gives e's detail a transaction ID of its own, if it
// names one (else the transaction ID is the event's ID).
func ownTransaction(e events.EventBridgeEvent, suffix string) (events.EventBridgeEvent, error) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(e.Detail, &probe) != nil || probe["transactionId"] == nil {
		return e, nil
	}
	d, err := withField(e.Detail, "transactionId", suffix)
	if err != nil {
		return e, fmt.Errorf("demo: event %s: %w", e.ID, err)
	}
	e.Detail = d
	return e, nil
}

// redeliveries returns batches as SQS would deliver them again: the same
// bodies (the same orders) under new message IDs and receipt handles, as
// when a producer sends an order twice; copy 0 is the batches as they are.
func redeliveries(batches []events.SQSEvent, copy int) ([]events.SQSEvent, error) {
	if copy == 0 {
		return batches, nil
	}
	out := make([]events.SQSEvent, len(batches))
	for i, b := range batches {
		out[i].Records = make([]events.SQSMessage, len(b.Records))
		for j, r := range b.Records {
			r.MessageId = fmt.Sprintf("%s-again-%d", r.MessageId, copy)
			r.ReceiptHandle = fmt.Sprintf("%s-again-%d", r.ReceiptHandle, copy)
			out[i].Records[j] = r
		}
	}
	return out, nil
}

// countingProxy forwards the functions' DynamoDB requests and counts them
// by operation.
type countingProxy struct {
	url string
	srv *http.Server
	mu  sync.Mutex // protects n
	n   map[string]int
}

func newCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	p := &countingProxy{url: "http://" + ln.Addr().String(), n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		p.mu.Lock()
		p.n[op]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *countingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.n)
}

// per returns the counts divided by n.
func (p *countingProxy) per(n int) map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]float64{}
	for op, c := range p.n {
		out[op] = float64(c) / float64(max(n, 1))
	}
	return out
}

func (p *countingProxy) close() { _ = p.srv.Close() }

// requests formats per-event request counts.
func requests(m map[string]float64) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%.1f %s", m[op], op))
	}
	return strings.Join(parts, ", ")
}
