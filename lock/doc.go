// Package lock is a distributed lock on Amazon DynamoDB: one conditional
// write to acquire, one to release, owner-checked, with fencing tokens and a
// lease that frees a crashed holder's lock by itself.
//
// A single named lock, as in the original Python DynaLock:
//
//	dl, err := lock.New(ctx, lock.Config{TableName: "locks", LockID: "api_lock"})
//	err = dl.Do(ctx, func(ctx context.Context) error {
//		// protected code; ctx ends before the lease does
//		return nil
//	})
//
// A [Client] serves many lock IDs over one DynamoDB client and is what
// services and the Lambda middleware use.
//
// # Writes that only a holder can make
//
// [Lease.Write] applies DynamoDB writes in one transaction with a check
// that the lease still holds the lock, so a holder that was paused past
// its lease writes nothing once another holder may have the lock; with
// [AndRelease] the release is part of the same transaction:
//
//	lease, err := locks.Acquire(ctx, "account/acct-1")
//	err = lease.Write(ctx, []types.TransactWriteItem{debit}, lock.AndRelease())
//
// # Work done once
//
// [Client.Claim] takes the lock of a unit of work (one event, one request)
// unless it was completed before, in which case it returns the stored
// result instead: the work runs once however often it is delivered.
// [Lease.Complete] stores the result and releases the claim; [AndComplete]
// does it in the same transaction as the work's writes:
//
//	claim, err := locks.Claim(ctx, "event/"+eventID, body)
//	if claim.Done != nil {
//		return claim.Done.Result, nil // a duplicate: the work was done
//	}
//	err = lease.Write(ctx, effects, lock.AndRelease(), lock.AndComplete(claim.Lease, result))
//
// # How it works
//
// Each lock is one item in a table whose partition key is LockId (S) and
// whose TTL attribute is TTL (N, epoch seconds); see [Table]. Acquiring is a
// single conditional UpdateItem that succeeds when the item is missing,
// released, or its lease ended more than the clock-skew tolerance ago. It
// writes a random lease ID, the holder's details, the lease's end in
// milliseconds and a fencing token one greater than the item's last one.
// Release and extend are conditional on the lease ID, so a holder that was
// taken over can never release or extend its successor's lock. Released
// items are kept, with their counter, until their TTL clean-up, so fencing
// tokens keep increasing across releases, expiries and takeovers.
//
// # Guarantees and assumptions
//
//   - Two holders never overlap as long as the holders' clocks differ by
//     less than the clock-skew tolerance and the holder stops when the
//     context handed to it ends (it ends the tolerance before the lease
//     does; a waiter takes over only the tolerance after it ended).
//   - Fencing tokens of one lock ID strictly increase. When an item was
//     deleted by TTL, its counter is seeded again from the clock in
//     microseconds; this is above every earlier token provided clocks are
//     within the item's retention of each other.
//   - Correctness never depends on DynamoDB deleting expired items.
package lock
