package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/chaos/history"
)

// operator is a worker's operator role: over its own faulty connection, it
// force-releases random locks' leases as an operator's `dynalock release
// --token` would (admin.Read, then admin.ForceReleaseInput with the
// lease and token read), now and then also the next holder's, and, when
// asked (hint), the lease of an acquire whose answer was just lost, while
// the SDK's retry is held back.
type operator struct {
	cfg   Config
	rec   *history.Recorder
	db    *dynamodb.Client
	clock skewedClock
	hints chan string
}

// hint asks the operator to force-release lock id now; it reports whether
// the operator will.
func (o *operator) hint(id string) bool {
	select {
	case o.hints <- id:
		return true
	default:
		return false
	}
}

func (o *operator) run(ctx context.Context) {
	t := time.NewTimer(o.next())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-o.hints:
			o.force(ctx, id, "")
		case <-t.C:
			id := o.cfg.LockIDs[rand.N(len(o.cfg.LockIDs))]
			if lease, ok := o.force(ctx, id, ""); ok && rand.Float64() < o.cfg.OperatorBurst {
				o.burst(ctx, id, lease)
			}
			t.Reset(o.next())
		}
	}
}

func (o *operator) next() time.Duration {
	return time.Duration(rand.ExpFloat64() * float64(o.cfg.OperatorEvery))
}

// burst watches lock id for a while after the operator force-released
// lease, and force-releases the next lease it sees too.
func (o *operator) burst(ctx context.Context, id, lease string) {
	until := time.Now().Add(3 * o.cfg.TTLMax / 2)
	for time.Now().Before(until) {
		if !sleep(ctx, 5*time.Millisecond+rand.N(10*time.Millisecond)) {
			return
		}
		if next, sent := o.force(ctx, id, lease); sent && next != lease {
			return
		}
	}
}

// force reads lock id's item and, unless its lease is released or is
// skip, force-releases that lease with its token. It returns the lease it
// read and whether it sent the force.
func (o *operator) force(ctx context.Context, id, skip string) (string, bool) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	rec, found, err := o.cfg.table.Read(rctx, o.db, o.cfg.LockTable, id)
	cancel()
	e := history.Event{Kind: history.KindRead, Lock: id, Result: history.ResultOK}
	switch {
	case err != nil:
		e.Result, e.Err = history.ResultError, err.Error()
	case !found:
		e.Result = history.ResultMissing
	default:
		e.Lease, e.Token = rec.LeaseID, rec.Token
		if !rec.ExpiresAt.IsZero() {
			e.ExpiresAt = rec.ExpiresAt.UnixMilli()
		}
		if rec.Released {
			e.RelLease = rec.LeaseID
			if rec.Forced {
				e.Forced = rec.LeaseID
			}
		}
	}
	o.rec.Record(e)
	if err != nil || !found || rec.Released || rec.LeaseID == "" || rec.LeaseID == skip {
		return rec.LeaseID, false
	}
	timeout := 2 * time.Second
	if rand.Float64() < o.cfg.ShortRate {
		timeout = 1 + rand.N(o.cfg.ShortMax)
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	_, err = o.db.UpdateItem(fctx, o.cfg.table.ForceReleaseInput(o.cfg.LockTable, id, rec.LeaseID, rec.Token,
		fmt.Sprintf("chaos-operator-%d", o.cfg.ID), "chaos run", o.clock.Now()))
	fe := history.Event{Kind: history.KindForce, Start: history.Nanos(start), Lock: id, Lease: rec.LeaseID, Token: rec.Token, Result: history.ResultOK}
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
	case errors.As(err, &ccf):
		fe.Result = history.ResultRefused
		if len(ccf.Item) > 0 {
			seen := history.Event{Kind: history.KindRead, Lock: id, Result: history.ResultOK}
			describeItem(o.cfg.table, &seen, ccf.Item)
			o.rec.Record(seen)
		}
	default:
		fe.Result = history.ResultError
	}
	if err != nil {
		fe.Err = err.Error()
	}
	o.rec.Record(fe)
	return rec.LeaseID, true
}
