package lockitem

// Attributes of the observed-lease rule: every acquire and extend writes a
// version that no other write of the item repeats, and the duration it
// granted, so that a waiter can count a lease on its own monotonic clock
// without trusting the holder's wall clock (see lock's takeover rules).
const (
	// AttrLeaseVersion (S) names the write that last granted the current lease
	// time: the lease ID, a dot and the holder's sequence number of the
	// write. A version not prefixed by the item's lease ID was written for
	// another lease (by a writer that does not version its leases) and
	// says nothing about the current one.
	AttrLeaseVersion = "LeaseVersion"
	// AttrLeaseSeq (N) is the holder's sequence number of that write (the
	// number in AttrLeaseVersion): 0 for the acquire, and strictly
	// increasing over the lease's extends. An extend's condition refuses to
	// lower it, so a late write of the lease (an SDK retry, or one of two
	// concurrent extends) never puts back a version that a later one
	// replaced, and the acquire's retry branch requires it still 0.
	AttrLeaseSeq = "LeaseSeq"
	// AttrLeaseMs (N) is how long that write granted, in milliseconds,
	// counted on the holder's monotonic clock from before it sent the write;
	// never less than the earlier writes of the same lease granted.
	AttrLeaseMs = "LeaseMs"
)
