package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// lookStepPer5 is the cap on the wait step between the reads of a waiter
// whose DynamoDB client can read (GetItem), in fifths of the cap on the
// step between writes: 800 ms by default. An eventually consistent read
// (half a read unit) every 400-800 ms, jittered, costs about 50 read
// units a minute, less than the one consistent read a second (60 units)
// of cirello.io/dynamolock, and sees a release within 0.8 s.
const lookStepPer5 = 8

// retryWhileHeld calls try until it succeeds, fails other than by a held
// lock (a *HeldError), the wait limit passes or ctx ends. After a held
// answer it sleeps one jittered wait step at a time, growing, never less
// than minRetryInterval (but for a last attempt at the wait limit), and
// between steps it reads the lock's item when the DynamoDB client can
// (GetItem): it writes again only when a read shows the lock free or one
// of the takeover rules (observe.go) lets it take the lease over, when
// its step is never longer than until then. Without reads, every step
// ends in a write, as the failed write's answer bounds it. When ctx ends
// during an attempt, the attempt's own error comes back
// (ErrLockAcquisition, wrapping the context's), naming the holder last
// seen: whether the lock was still held cannot be told, so it is not
// reported as held.
func (c *Client) retryWhileHeld(ctx context.Context, o options, try func(*watch) error) error {
	var giveUp time.Time
	if o.Wait > 0 && o.Wait != WaitForever {
		giveUp = time.Now().Add(o.Wait)
	}
	w := newWatch(o)
	reader := c.reader()
	if o.Permits > 1 {
		// A permit item keeps its holders in a map: a read would not tell
		// a free permit; such a waiter writes at every step.
		reader = nil
	}
	maxStep := o.MaxRetry
	if reader != nil && maxStep <= WaitForever/lookStepPer5 {
		maxStep = maxStep / 5 * lookStepPer5
	}
	step := o.RetryInterval
	var lastHeld error
	for {
		err := try(w)
		var held *HeldError
		isHeld := errors.As(err, &held)
		switch {
		case err == nil:
			return nil
		case !isHeld && lastHeld != nil && ctx.Err() != nil:
			return gaveUp(err, lastHeld)
		case !isHeld || o.Wait == 0:
			return err
		}
		lastHeld = err
		id := held.LockID
		if held.seen != nil {
			w.saw(id, *held.seen)
		} else {
			w.saw(id, sighting{leaseID: held.Holder.LeaseID, exp: held.Holder.ExpiresAt})
		}
		for {
			sleep := jitter(step)
			if at := w.freeAt(id); !at.IsZero() {
				sleep = min(sleep, time.Until(at))
			}
			sleep = max(sleep, minRetryInterval)
			last := false
			if !giveUp.IsZero() {
				remaining := time.Until(giveUp)
				if remaining <= 0 {
					return err
				}
				if remaining <= sleep {
					sleep, last = remaining, true // the last attempt comes at the limit
				}
			}
			t := time.NewTimer(sleep)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			step = grow(step, maxStep)
			if last || reader == nil {
				break
			}
			if at := w.freeAt(id); !at.IsZero() && !time.Now().Before(at) {
				break // free, or one of the rules lets it be taken over
			}
			item, at, rerr := c.look(ctx, reader, id, o.Skew)
			if rerr != nil {
				if readDenied(rerr) {
					reader = nil // a role without dynamodb:GetItem: wait by writes alone
				}
				break // a write will say what is wrong
			}
			s := sightingOf(item, at)
			w.saw(id, s)
			if s.free {
				break
			}
		}
	}
}

// sighted adds to a *HeldError the item that the failed write's answer
// carried (in sdkErr), to be counted from at (countFrom).
func sighted(err, sdkErr error, at time.Time) error {
	var held *HeldError
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &held) && errors.As(sdkErr, &ccf) {
		s := sightingOf(ccf.Item, at)
		held.seen = &s
	}
	return err
}

// gaveUp is the error of a wait whose context ended during an attempt:
// err, with the holder that the attempt before it found.
func gaveUp(err, lastHeld error) error {
	var held *HeldError
	if !errors.As(lastHeld, &held) {
		return err
	}
	return fmt.Errorf("%w (the context ended during an attempt; the lock was last seen held by %s until %s)",
		err, describeHolder(held.Holder), held.Holder.ExpiresAt.UTC().Format(time.RFC3339Nano))
}

// grow returns the next wait step: half as long again, capped at max,
// without overflowing.
func grow(step, max time.Duration) time.Duration {
	if step >= max-step/2 {
		return max
	}
	return step + step/2
}

// jitter returns a duration between half and all of step.
func jitter(step time.Duration) time.Duration {
	half := step / 2
	return half + rand.N(step-half+1)
}
