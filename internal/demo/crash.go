package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/emulator"
	"github.com/dynalock/dynalock/lock"
)

// CrashResult is what Crash measured.
type CrashResult struct {
	LockID string
	// Holder is the killed invocation's lease, as its lock item held it.
	Holder lock.Holder
	// KilledAfter is how long after the invocation started the kill came.
	KilledAfter time.Duration
	// LeaseLeft is how long the lease had to run at the kill.
	LeaseLeft time.Duration
	// FreedAfter is how long after the kill another invocation got the
	// lock: the lease's end plus the lock's clock-skew tolerance.
	FreedAfter time.Duration
	// Attempts counts the redeliveries of the killed record, the last of
	// which processed it.
	Attempts int
	// Killed is the killed invocation's outcome, an ErrNoResponse error.
	Killed error
}

// Crash shows a crashed holder's lock freeing itself. It invokes victim (a
// reserve-stock emulator whose handler works long enough to be caught
// holding the lock) with a one-record batch, waits until the record's lock
// is held, kills the function's process with SIGKILL, then redelivers the
// record to f every interval, as SQS would after the visibility timeout,
// until an invocation processes it: the lock has freed itself.
func Crash(ctx context.Context, s *Stack, victim *emulator.Instance, f *Function, msg events.SQSMessage, lockID string, interval time.Duration) (CrashResult, error) {
	res := CrashResult{LockID: lockID}
	before, _, err := s.lockRecord(ctx, lockID)
	if err != nil {
		return res, err
	}
	payload, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{msg}})
	if err != nil {
		return res, fmt.Errorf("demo: %w", err)
	}
	invoke := func(payload []byte) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := victim.Invoke(ctx, payload)
			done <- err
		}()
		return done
	}
	started := time.Now()
	killed := invoke(payload)
	// Wait until the victim holds the lock: a new lease on it, taken by
	// reserve-stock (other functions, such as low-stock-alerts, take the
	// same lock meanwhile; reserve-stock's other environments are idle).
	// A victim that found the lock held answers at once, its record
	// failed: it gets the record again, as from SQS, for up to a minute.
	giveUp := started.Add(time.Minute)
	var rec admin.Record
	for {
		r, ok, err := s.lockRecord(ctx, lockID)
		if err != nil {
			return res, err
		}
		if ok && r.LeaseID != before.LeaseID && r.Held(time.Now()) && victimOwner(r.Owner) {
			rec = r
			break
		}
		select {
		case err := <-killed:
			if err != nil || time.Now().After(giveUp) {
				return res, fmt.Errorf("demo: the victim returned (%v) before it was seen holding %s", err, lockID)
			}
			msg = redelivered(msg)
			if payload, err = json.Marshal(events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil {
				return res, fmt.Errorf("demo: %w", err)
			}
			started = time.Now()
			killed = invoke(payload)
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Let the handler get into its work, then kill it there.
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if err := victim.KillFunction(); err != nil {
		return res, err
	}
	killedAt := time.Now()
	res.Holder = rec.Holder
	res.KilledAfter = killedAt.Sub(started)
	res.LeaseLeft = rec.ExpiresAt.Sub(killedAt)
	res.Killed = <-killed
	if !errors.Is(res.Killed, emulator.ErrNoResponse) {
		return res, fmt.Errorf("demo: the killed invocation ended with %v, want no response", res.Killed)
	}
	// Redeliver until processed.
	deadline := killedAt.Add(rec.ExpiresAt.Sub(killedAt) + time.Minute)
	for {
		msg = redelivered(msg)
		payload, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{msg}})
		if err != nil {
			return res, fmt.Errorf("demo: %w", err)
		}
		resp, err := f.Invoke(ctx, payload)
		if err != nil {
			return res, err
		}
		res.Attempts++
		if resp.Err == nil {
			var out events.SQSEventResponse
			if err := json.Unmarshal(resp.Payload, &out); err != nil {
				return res, fmt.Errorf("demo: response %s: %w", resp.Payload, err)
			}
			if len(out.BatchItemFailures) == 0 {
				res.FreedAfter = time.Since(killedAt)
				return res, nil
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("demo: %s still held %s after the kill (lease end %s)", lockID, time.Since(killedAt).Round(time.Millisecond), rec.ExpiresAt.Format(time.RFC3339Nano))
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
}

// victimOwner reports whether owner is a lock owner of reserve-stock's:
// "reserve-stock", or "reserve-stock/<log stream>" in an execution
// environment.
func victimOwner(owner string) bool {
	return owner == ReserveStock || strings.HasPrefix(owner, ReserveStock+"/")
}

// lockRecord reads the lock item of id, strongly consistently; ok is false
// if there is none.
func (s *Stack) lockRecord(ctx context.Context, id string) (admin.Record, bool, error) {
	r, ok, err := admin.Read(ctx, s.Client(), s.LockTable, id)
	if err != nil {
		return admin.Record{}, false, fmt.Errorf("demo: read lock %s: %w", id, err)
	}
	return r, ok, nil
}

// HeldLocks returns the locks held at now in the stack's lock tables:
// LockTable and those NewLockTable made.
func (s *Stack) HeldLocks(ctx context.Context, now time.Time) ([]admin.Record, error) {
	s.mu.Lock()
	tables := append([]string(nil), s.lockTables...)
	s.mu.Unlock()
	var held []admin.Record
	for _, table := range tables {
		p := dynamodb.NewScanPaginator(s.Client(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("demo: scan the lock table %s: %w", table, err)
			}
			for _, item := range page.Items {
				r, err := admin.Parse(item)
				if err != nil {
					return nil, fmt.Errorf("demo: %w", err)
				}
				if r.Held(now) {
					held = append(held, r)
				}
			}
		}
	}
	return held, nil
}
