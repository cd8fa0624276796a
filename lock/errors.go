package lock

import (
	"errors"
	"fmt"
	"time"
)

// The conditions callers branch on, checked with errors.Is. The first three
// are the original DynaLock's LockAcquisitionError, LockAlreadyAcquiredError
// and LockReleaseError.
var (
	// ErrLockAcquisition means the lock was not acquired, for any reason:
	// held by another holder (then the error also matches
	// ErrLockAlreadyAcquired) or DynamoDB could not be asked (then it wraps
	// the SDK's error: network, throttling, permissions, missing table).
	ErrLockAcquisition = errors.New("lock: acquisition failed")

	// ErrLockAlreadyAcquired means another holder has the lock and its lease
	// has not ended. Errors matching it are *HeldError values, which say who
	// holds the lock and until when.
	ErrLockAlreadyAcquired = errors.New("lock: already acquired")

	// ErrLockRelease means a release did not go through: DynamoDB could not
	// be asked, or the lock is no longer this holder's (then the error also
	// matches ErrLockLost).
	ErrLockRelease = errors.New("lock: release failed")

	// ErrLockLost means the holder's lease ended and another holder took the
	// lock over (or an operator released it). Extend and the heartbeat
	// report it; Do cancels fn's context with it as the cause.
	ErrLockLost = errors.New("lock: lost")

	// ErrReleaseUnknown means a release could not be confirmed: an earlier
	// attempt may have gone through (its answer was lost), but by the time
	// a retry arrived the lock had changed hands in a way that does not
	// tell whether this holder released it, an operator did, or its lease
	// ran out. Errors matching it also match ErrLockRelease, never
	// ErrLockLost. Either way the lock is no longer this holder's.
	ErrReleaseUnknown = errors.New("lock: release outcome unknown")

	// ErrInvalidInput means an argument or option was rejected before any
	// request was sent.
	ErrInvalidInput = errors.New("lock: invalid input")
)

// Holder describes who holds a lock, as stored in its item.
type Holder struct {
	Owner      string
	LeaseID    string
	Host       string
	RequestID  string
	Token      int64
	AcquiredAt time.Time
	ExpiresAt  time.Time
}

// HeldError reports a lock that another holder has. It matches both
// ErrLockAlreadyAcquired and ErrLockAcquisition.
type HeldError struct {
	LockID string
	Holder Holder
	// At is the client's clock time that the acquire judged the lock
	// against: the time its request carried, taken before it was sent, so
	// an answer delayed by the network or by the SDK's retries still says
	// when the lock was found held. The lock was held then: Holder's lease
	// had not ended more than the clock-skew tolerance before At.
	At time.Time
	// Metadata is the holder's (Config.Metadata), as its item stored it, read
	// from the same answer; nil when it has none.
	Metadata map[string]string
	// Permits is how many holders the lock ID admits (WithPermits), all of
	// them taken; Holder is then the one whose lease ends first. It is 0
	// for a lock of one holder.
	Permits int

	// seen is the item as the answer showed it, for a waiter's watch.
	seen *sighting
}

func (e *HeldError) Error() string {
	if e.Permits > 1 {
		return fmt.Sprintf("lock: %q: all %d permits held; the first lease to end is %s's, until %s",
			e.LockID, e.Permits, describeHolder(e.Holder), e.Holder.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("lock: %q already acquired by %s until %s",
		e.LockID, describeHolder(e.Holder), e.Holder.ExpiresAt.UTC().Format(time.RFC3339Nano))
}

// Is reports whether target is ErrLockAlreadyAcquired or ErrLockAcquisition.
func (e *HeldError) Is(target error) bool {
	return target == ErrLockAlreadyAcquired || target == ErrLockAcquisition
}

// lostError reports a lock that is no longer the holder's. Holder is the
// lock's current holder when there is one. It matches ErrLockLost.
type lostError struct {
	LockID string
	// Holder is the lock's holder at the time, if any.
	Holder *Holder
	// Reason says what was found instead of the holder's lease.
	Reason string
}

func (e *lostError) Error() string {
	if e.Holder != nil {
		return fmt.Sprintf("lock: %q lost: %s (now held by %s)", e.LockID, e.Reason, describeHolder(*e.Holder))
	}
	return fmt.Sprintf("lock: %q lost: %s", e.LockID, e.Reason)
}

// Is reports whether target is ErrLockLost.
func (e *lostError) Is(target error) bool { return target == ErrLockLost }

func describeHolder(h Holder) string {
	s := fmt.Sprintf("%q (token %d", h.Owner, h.Token)
	if h.RequestID != "" {
		s += ", request " + h.RequestID
	}
	return s + ")"
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
