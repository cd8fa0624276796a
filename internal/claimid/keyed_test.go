package claimid_test

import (
	"strings"
	"testing"

	"github.com/dynalock/dynalock/internal/claimid"
)

// TestKeyed: what a claim stores of its keying is capped, cut at rune
// boundaries and marked, and reads back.
func TestKeyed(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	for _, tc := range []struct {
		name  string
		keys  []string
		want  string
		scope string
	}{
		{"one key", []string{"pay-42"}, `["pay-42"]`, "fn"},
		{"several, in order", []string{"b", "a"}, `["b","a"]`, "fn"},
		{"a long key is cut at a rune", []string{long}, `["` + strings.Repeat("é", 32) + `…(+16 bytes)"]`, "fn"},
		{"too many keys", []string{"1", "2", "3", "4", "5", "6"}, `["1","2","3","4","…(+2 keys)"]`, ""},
		{"invalid UTF-8", []string{"a\xffb"}, `["a\ufffdb"]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := claimid.Keyed(tc.scope, "id", tc.keys)
			if got := m[claimid.MetaKeys]; got != strings.ReplaceAll(tc.want, `\ufffd`, "\uFFFD") {
				t.Errorf("stored keys %s, want %s", got, tc.want)
			}
			if _, ok := m[claimid.MetaScope]; ok != (tc.scope != "") {
				t.Errorf("scope stored %v for scope %q", ok, tc.scope)
			}
			k := claimid.KeyingOf(claimid.ID("payments", tc.scope, tc.keys...), m)
			if k.Namespace != "payments" || k.Scope != tc.scope || k.KeyName != "id" || !k.Stored || len(k.Keys) == 0 {
				t.Errorf("read back %+v", k)
			}
		})
	}
	if k := claimid.KeyingOf("event/1", nil); k.Stored || k.Namespace != "" || claimid.IsClaim("event/1") {
		t.Errorf("a plain lock ID reads as keyed: %+v", k)
	}
	if !claimid.IsClaim(claimid.ID("", "", "k")) || !claimid.IsClaim(claimid.ID("a/b", "", "k")) {
		t.Error("claim IDs not recognised")
	}
}
