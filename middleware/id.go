package middleware

import "github.com/dynalock/dynalock/internal/claimid"

// lockIDs returns the lock IDs of keys, in the keys' order: namespace +
// "/" + key (the key alone without a namespace), shortened
// deterministically, with a hash, when longer than DynamoDB's key limit or
// not valid UTF-8.
func lockIDs(namespace string, keys []string) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = claimid.LockID(namespace, k)
	}
	return ids
}
