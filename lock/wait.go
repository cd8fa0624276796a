package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// retryWhileHeld calls try until it succeeds, fails other than by a held
// lock (heldUntil returns the zero time), the wait limit passes or ctx
// ends. Between attempts it sleeps one jittered wait step, never longer
// than until the holder's lease plus the clock-skew tolerance has passed,
// never shorter than minRetryInterval (but for a last attempt at the wait
// limit). When ctx ends during an attempt, the attempt's own error comes
// back (ErrLockAcquisition, wrapping the context's), naming the holder last
// seen: whether the lock was still held cannot be told, so it is not
// reported as held.
func (c *Client) retryWhileHeld(ctx context.Context, o options, try func() (heldUntil time.Time, err error)) error {
	var giveUp time.Time
	if o.Wait > 0 && o.Wait != WaitForever {
		giveUp = time.Now().Add(o.Wait)
	}
	step := o.RetryInterval
	var lastHeld error
	for {
		until, err := try()
		switch {
		case err == nil:
			return nil
		case until.IsZero() && lastHeld != nil && ctx.Err() != nil:
			return gaveUp(err, lastHeld)
		case until.IsZero() || o.Wait == 0:
			return err
		}
		lastHeld = err
		sleep := jitter(step)
		// The holder's lease ends at until by its clock; ours may be ahead or
		// behind by the tolerance. Try again as soon as it can be taken over.
		if untilFree := until.Sub(o.Now()) + o.Skew + time.Millisecond; untilFree < sleep {
			sleep = untilFree
		}
		sleep = max(sleep, minRetryInterval)
		if !giveUp.IsZero() {
			remaining := time.Until(giveUp)
			if remaining <= 0 {
				return err
			}
			sleep = min(sleep, remaining) // the last attempt comes at the limit
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		step = grow(step, o.MaxRetry)
	}
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
