package middleware

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/dynalock/dynalock/lock"
)

// hashMarker separates the readable prefix of a shortened lock ID from the
// hash of the whole ID.
const hashMarker = "#sha256:"

// LockID returns the lock ID of key under namespace: namespace + "/" + key,
// or key alone when namespace is empty. An ID longer than
// lock.MaxLockIDBytes, or not valid UTF-8 (DynamoDB keys must be), is
// shortened deterministically: its first bytes, made valid UTF-8, then
// "#sha256:" and the hex SHA-256 of the whole ID, lock.MaxLockIDBytes bytes
// at most. Wrap and WrapSQS lock the IDs it returns; operators use it to
// find a key's lock.
func LockID(namespace, key string) string {
	id := key
	if namespace != "" {
		id = namespace + "/" + key
	}
	if len(id) <= lock.MaxLockIDBytes && utf8.ValidString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	suffix := hashMarker + hex.EncodeToString(sum[:])
	prefix := strings.ToValidUTF8(id, "\uFFFD")
	limit := lock.MaxLockIDBytes - len(suffix)
	if len(prefix) > limit {
		prefix = prefix[:limit]
		for !utf8.ValidString(prefix) { // cut inside a rune: drop its start
			prefix = prefix[:len(prefix)-1]
		}
	}
	return prefix + suffix
}

// lockIDs returns the lock IDs of keys, in the keys' order.
func lockIDs(namespace string, keys []string) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = LockID(namespace, k)
	}
	return ids
}
