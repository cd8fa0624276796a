// Package lock is a distributed lock on Amazon DynamoDB: one conditional
// write to acquire, one to release, owner-checked, with fencing tokens and a
// lease that frees a crashed holder's lock by itself.
//
// A single named lock, as in the original Python DynaLock (see the
// package's Example):
//
//	dl, err := lock.New(ctx, lock.Config{TableName: "locks", Region: "us-west-2", LockID: "api_lock"})
//	err = dl.Do(ctx, func(ctx context.Context) error {
//		// protected code; ctx ends before the lease does
//		return nil
//	})
//
// A [Client] serves every lock ID of one table over one DynamoDB client, as
// services and the Lambda middleware use it; [Client.Lock] names a lock of
// one or several IDs, taken all or none:
//
//	locks, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: db})
//	err = locks.Lock("account/1", "account/2").Do(ctx, transfer)
//
// # Writes that only a holder can make
//
// [Lease.Write] applies DynamoDB writes in one transaction with a check
// that the lease still holds its locks, so a holder that was paused past
// its lease writes nothing once another holder may have them;
// [Lease.Complete] does the same and releases the locks in that
// transaction:
//
//	lease, err := locks.Lock("account/acct-1").Acquire(ctx)
//	err = lease.Complete(ctx, nil, debit)
//
// # Work done once
//
// [Client.Claim] takes the lock of a unit of work (one event, one request)
// unless it was completed before, in which case it returns the stored
// result instead: the work runs once however often it is delivered.
// [Lease.Complete] stores the result, applies the work's writes and
// releases the claim, all in one transaction; [Join] adds the locks of the
// entities the work changes to it:
//
//	claim, err := locks.Claim(ctx, "event/"+eventID, body)
//	if claim.Done {
//		return claim.Result, nil // a duplicate: the work was done
//	}
//	err = claim.Lease.Complete(ctx, result, effects...)
//
// # Up to N holders at once
//
// [WithPermits] makes a lock ID admit up to n holders at once, a
// semaphore: each holder gets a lease of its own, with everything above
// (its token, Write, Complete, Extend, the heartbeat), and an acquire that
// finds all n taken is refused or waits as for a held lock:
//
//	err = locks.Lock("tenant/acme/exports").Do(ctx, export, lock.WithPermits(3))
//
// # How it works
//
// Each lock is one item in a table whose partition key is LockId (S) and
// whose TTL attribute is TTL (N, epoch seconds), the original DynaLock's
// table. Acquiring is a single conditional UpdateItem that succeeds when
// the item is missing, released, or its lease ended more than the
// clock-skew tolerance ago. It writes a random lease ID, the holder's
// details, the lease's end in milliseconds and a fencing token one greater
// than the item's last one. Release and extend are conditional on the
// lease ID, so a holder that was taken over can never release or extend
// its successor's lock. Released items are kept, with their counter, until
// their TTL clean-up, so fencing tokens keep increasing across releases,
// expiries and takeovers.
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
//
// docs/GUARANTEES.md states every promise, its assumptions and how it is
// checked.
package lock
