package claimid_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dynalock/dynalock/internal/claimid"
)

// TestIDInjective: two different (scope, keys) give two claim IDs, even
// when a key or the scope holds the bytes an encoding could use to
// separate them (a JSON "\u0000" decodes to NUL), so one event is never
// answered with another's stored output.
func TestIDInjective(t *testing.T) {
	type claim struct {
		scope string
		keys  []string
	}
	for _, tc := range []struct {
		name string
		a, b claim
	}{
		{"NUL moves the boundary between keys", claim{"", []string{"acme", "1\x002"}}, claim{"", []string{"acme\x001", "2"}}},
		{"NUL moves the boundary between scope and key", claim{"a", []string{"\x00b"}}, claim{"a\x00", []string{"b"}}},
		{"a key's NUL is a second key", claim{"", []string{"a\x00b"}}, claim{"", []string{"a", "b"}}},
		{"scope and key swap", claim{"a", []string{"b"}}, claim{"b", []string{"a"}}},
		{"the scope is not a key", claim{"", []string{"a", "b"}}, claim{"a", []string{"b"}}},
		{"keys in another order", claim{"", []string{"a", "b"}}, claim{"", []string{"b", "a"}}},
		{"no key and an empty one", claim{"s", nil}, claim{"s", []string{""}}},
		{"length bytes in a key", claim{"", []string{"\x00\x00\x00\x00\x00\x00\x00\x01a"}}, claim{"", []string{"", "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := claimid.ID("ns", tc.a.scope, tc.a.keys...), claimid.ID("ns", tc.b.scope, tc.b.keys...)
			if a == b {
				t.Errorf("scope %q keys %q and scope %q keys %q share the claim %s", tc.a.scope, tc.a.keys, tc.b.scope, tc.b.keys, a)
			}
			if again := claimid.ID("ns", tc.a.scope, tc.a.keys...); again != a {
				t.Errorf("ID is not deterministic: %s, then %s", a, again)
			}
			if !strings.HasPrefix(a, "ns/idempotency#") {
				t.Errorf("ID = %s, want it under ns/idempotency#", a)
			}
		})
	}
}

// TestLockID: a key is its namespace's; an ID that DynamoDB could not take
// as a key (too long, not UTF-8) is shortened to one it can, the same
// every time and another for every other ID.
func TestLockID(t *testing.T) {
	if got := claimid.LockID("orders", "42"); got != "orders/42" {
		t.Errorf("LockID(orders, 42) = %q", got)
	}
	if got := claimid.LockID("", "42"); got != "42" {
		t.Errorf("LockID without a namespace = %q", got)
	}
	long := strings.Repeat("é", 1500) // 3000 bytes
	for _, key := range []string{long, long + "x", "bad\xffkey", "bad\xfekey", strings.Repeat("k", 2047)} {
		id := claimid.LockID("n", key)
		if len(id) > 2048 || !utf8.ValidString(id) {
			t.Errorf("LockID(n, %.12q…) = %d bytes, valid UTF-8 %v: not a DynamoDB key", key, len(id), utf8.ValidString(id))
		}
		if again := claimid.LockID("n", key); again != id {
			t.Errorf("LockID is not deterministic for %.12q…", key)
		}
	}
	if a, b := claimid.LockID("n", long), claimid.LockID("n", long+"x"); a == b || !strings.Contains(a, "#sha256:") {
		t.Errorf("two long keys: %.20q… and %.20q…, want two IDs ending in their hash", a, b)
	}
	if a, b := claimid.LockID("n", "bad\xffkey"), claimid.LockID("n", "bad\xfekey"); a == b {
		t.Errorf("two keys differing in invalid bytes share the ID %q", a)
	}
}
