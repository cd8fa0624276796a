package lock

import (
	"slices"
	"strings"
)

// Join returns one lease that holds every lock of leases, as if one call
// had taken them: Write checks them all in its transaction, Complete
// completes the claim among them (at most one may hold a claim) and
// releases the others in the same step, Release and Extend act on all, and
// Deadline is the earliest. The leases stay usable on their own; releasing
// a lock through either is releasing it. It is for locks taken by separate
// calls, such as a Claim and the Acquire of the entities its work changes,
// sent at once (the Lambda middleware does this). It fails with
// ErrInvalidInput, before any request, on no leases, a lease not from
// Acquire or Claim, two claims, or one lock ID twice.
func Join(leases ...*Lease) (*Lease, error) {
	if len(leases) == 0 {
		return nil, invalid("Join: no leases")
	}
	var j Lease
	seen := map[string]bool{}
	for i, l := range leases {
		if err := l.usable(); err != nil {
			return nil, invalid("Join: lease %d of %d is not from Acquire or Claim", i+1, len(leases))
		}
		if l.claim != nil {
			if j.claim != nil {
				return nil, invalid("Join: two claims, %q and %q", j.claim.id, l.claim.id)
			}
			j.claim = l.claim
		}
		for _, p := range l.parts() {
			if seen[p.id] {
				return nil, invalid("Join: the lock %q twice", p.id)
			}
			seen[p.id] = true
			if p != l.claim {
				j.locks = append(j.locks, p)
			}
		}
	}
	if len(j.locks) == 0 {
		j.locks = []*part{j.claim} // a claim alone
	}
	slices.SortFunc(j.locks, func(a, b *part) int { return strings.Compare(a.id, b.id) })
	return &j, nil
}
