// Package claimid derives the lock IDs the Lambda middleware locks: an
// entity's (namespace + "/" + key) and an idempotent event's claim. The
// middleware and the operators' package share it, so that an operator finds
// the record the middleware wrote.
package claimid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// maxLockIDBytes is DynamoDB's limit on a partition key's size.
const maxLockIDBytes = 2048

// hashMarker separates the readable prefix of a shortened lock ID from the
// hash of the whole ID.
const hashMarker = "#sha256:"

// claimPrefix starts the key part of every claim's lock ID: namespace +
// "/" + claimPrefix + hex SHA-256.
const claimPrefix = "idempotency#"

// LockID returns the lock ID of key under namespace: namespace + "/" + key,
// or key alone when namespace is empty. An ID longer than DynamoDB's key
// limit, or not valid UTF-8 (DynamoDB keys must be), is shortened
// deterministically: its first bytes, made valid UTF-8, then "#sha256:"
// and the hex SHA-256 of the whole ID, 2048 bytes at most.
func LockID(namespace, key string) string {
	id := key
	if namespace != "" {
		id = namespace + "/" + key
	}
	if len(id) <= maxLockIDBytes && utf8.ValidString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	suffix := hashMarker + hex.EncodeToString(sum[:])
	prefix := strings.ToValidUTF8(id, "\uFFFD")
	limit := maxLockIDBytes - len(suffix)
	if len(prefix) > limit {
		prefix = prefix[:limit]
		for !utf8.ValidString(prefix) { // cut inside a rune: drop its start
			prefix = prefix[:len(prefix)-1]
		}
	}
	return prefix + suffix
}

// ID returns the lock ID of the claim of keys under namespace and scope:
// LockID(namespace, "idempotency#" + the hex SHA-256 of scope and keys,
// each preceded by its length as 8 bytes big-endian). The length prefixes
// make the encoding injective: keys may hold any bytes, NUL included, and
// no two lists of keys (or a scope and a key) share a claim.
func ID(namespace, scope string, keys ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range append([]string{scope}, keys...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return LockID(namespace, claimPrefix+hex.EncodeToString(h.Sum(nil)))
}
