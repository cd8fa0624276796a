package claimid

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Entries of an idempotency claim's lock metadata (the item's Metadata
// map) that say how the middleware keyed it, so that an operator reading
// the record sees which function, which key and which of the event's
// fields it came from; the lock ID alone is a hash. The namespace is the
// lock ID's part before "/idempotency#" (Namespace). They are written with
// the claim, on every delivery, and cost a few dozen bytes of the item.
const (
	// MetaScope is the function's name (AWS_LAMBDA_FUNCTION_NAME) the key
	// was hashed with; absent when it had none.
	MetaScope = "dynalock.scope"
	// MetaKeyName names what the key reads, as the Key describes itself:
	// "messageId", an expression such as "orderId", a header's name.
	MetaKeyName = "dynalock.keyName"
	// MetaKeys is the event's keys, a JSON array of strings, each cut to
	// MaxStoredKeyBytes (see StoredKeys): the key may be sensitive, and
	// every byte is paid for on every write of the item.
	MetaKeys = "dynalock.keys"
)

// Caps on what a claim stores of its keying.
const (
	// MaxStoredKeyBytes is the most of one key stored in clear; a longer
	// key is cut (at a rune boundary) and marked "…(+N bytes)".
	MaxStoredKeyBytes = 64
	// MaxStoredKeys is the most keys stored; more are counted in a last
	// element, "…(+N keys)".
	MaxStoredKeys = 4
	// maxNameBytes caps the scope and the key's name.
	maxNameBytes = 128
)

// Keyed returns the metadata entries that record how a claim was keyed:
// scope, the key's name and its keys, each capped.
func Keyed(scope, keyName string, keys []string) map[string]string {
	m := map[string]string{MetaKeyName: cut(keyName, maxNameBytes), MetaKeys: StoredKeys(keys)}
	if scope != "" {
		m[MetaScope] = cut(scope, maxNameBytes)
	}
	return m
}

// StoredKeys is keys as MetaKeys stores them: a JSON array of at most
// MaxStoredKeys keys, each at most MaxStoredKeyBytes (plus its mark).
func StoredKeys(keys []string) string {
	shown := keys
	if len(shown) > MaxStoredKeys {
		shown = shown[:MaxStoredKeys]
	}
	out := make([]string, 0, len(shown)+1)
	for _, k := range shown {
		out = append(out, cut(k, MaxStoredKeyBytes))
	}
	if n := len(keys) - len(shown); n > 0 {
		out = append(out, fmt.Sprintf("…(+%d keys)", n))
	}
	b, _ := json.Marshal(out) // strings always marshal
	return string(b)
}

// cut returns s cut to at most n bytes of valid UTF-8 (invalid bytes
// become U+FFFD, as DynamoDB would store them), marked with how many
// bytes were left out.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	head := s[:n]
	for !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	return fmt.Sprintf("%s…(+%d bytes)", head, len(s)-len(head))
}

// Keying is how a claim was keyed, read back from its lock ID and
// metadata.
type Keying struct {
	Namespace, Scope, KeyName string
	Keys                      []string // as stored: possibly cut
	// Stored is true when the claim's metadata carried the entries (the
	// middleware wrote it); a claim made with lock.Client.Claim has none.
	Stored bool
}

// KeyingOf reads how the claim with lock ID id and metadata meta was
// keyed. IsClaim tells whether id is a middleware claim's at all.
func KeyingOf(id string, meta map[string]string) Keying {
	k := Keying{Namespace: Namespace(id), Scope: meta[MetaScope], KeyName: meta[MetaKeyName]}
	if raw, ok := meta[MetaKeys]; ok {
		k.Stored = true
		if err := json.Unmarshal([]byte(raw), &k.Keys); err != nil {
			k.Keys = []string{raw}
		}
	}
	return k
}

// IsClaim reports whether id is the lock ID of a middleware idempotency
// claim: namespace + "/idempotency#<hex>", or the key part alone.
func IsClaim(id string) bool {
	return strings.HasPrefix(id, claimPrefix) || strings.Contains(id, "/"+claimPrefix)
}

// Namespace returns the namespace of a claim's lock ID: its part before
// "/idempotency#", or "" when it has none.
func Namespace(id string) string {
	if i := strings.LastIndex(id, "/"+claimPrefix); i >= 0 {
		return id[:i]
	}
	return ""
}
