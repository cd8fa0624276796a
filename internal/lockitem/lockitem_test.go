package lockitem_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// TestCheckID: lock IDs are not empty, valid UTF-8 and within DynamoDB's
// key limit, and nothing else is asked of them.
func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"":                                       false,
		"orders/42":                              true,
		"日本語":                                    true,
		"\x00":                                   true,
		"\xff":                                   false,
		"a\xc3":                                  false, // a rune cut short
		strings.Repeat("x", lockitem.MaxIDBytes): true,
		strings.Repeat("x", lockitem.MaxIDBytes+1): false,
	} {
		if err := lockitem.CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%.20q… %d bytes) = %v, want ok %v", id, len(id), err, ok)
		}
	}
}

// TestParse decodes every attribute of an item, and tells a released and
// a force-released lease from a held one by the lease IDs they name.
func TestParse(t *testing.T) {
	ms := func(t time.Time) types.AttributeValue { return lockitem.N(t.UnixMilli()) }
	at := time.UnixMilli(1_700_000_000_123)
	item := map[string]types.AttributeValue{
		lockitem.PartitionKey:       lockitem.S("job"),
		lockitem.AttrLease:          lockitem.S("lease-1"),
		lockitem.AttrOwner:          lockitem.S("worker"),
		lockitem.AttrToken:          lockitem.N(7),
		lockitem.AttrExpiresAt:      ms(at.Add(time.Minute)),
		lockitem.AttrAcquiredAt:     ms(at),
		lockitem.AttrHost:           lockitem.S("host"),
		lockitem.AttrRequestID:      lockitem.S("req"),
		lockitem.AttrMetadata:       &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": lockitem.S("v")}},
		lockitem.AttrReleasedLease:  lockitem.S("lease-0"),
		lockitem.AttrForceCount:     lockitem.N(2),
		lockitem.AttrForcedLease:    lockitem.S("lease-0"),
		lockitem.AttrCompletedLease: lockitem.S("lease-0"),
		lockitem.AttrCompletedAt:    ms(at.Add(-time.Hour)),
		lockitem.AttrDoneUntil:      ms(at.Add(time.Hour)),
		lockitem.AttrResult:         &types.AttributeValueMemberB{Value: []byte("r")},
		lockitem.AttrPayloadHash:    lockitem.S("abc"),
		lockitem.TTLAttribute:       lockitem.N(at.Unix() + 3600),
	}
	r, err := lockitem.Parse(item)
	if err != nil {
		t.Fatal(err)
	}
	want := lockitem.Holder{Owner: "worker", LeaseID: "lease-1", Host: "host", RequestID: "req", Token: 7, AcquiredAt: at, ExpiresAt: at.Add(time.Minute)}
	if r.LockID != "job" || r.Holder != want || r.Metadata["k"] != "v" || r.ForceCount != 2 || r.ForcedLease != "lease-0" ||
		r.CompletedLease != "lease-0" || !r.CompletedAt.Equal(at.Add(-time.Hour)) || !r.DoneUntil.Equal(at.Add(time.Hour)) ||
		string(r.Result) != "r" || r.PayloadHash != "abc" || r.CleanupAt.Unix() != at.Unix()+3600 {
		t.Errorf("Parse = %+v", r)
	}
	if r.Released || r.Forced || !r.Held(at) || r.Held(at.Add(time.Minute)) {
		t.Errorf("a lease other than the released one: released %v, forced %v, held %v then %v", r.Released, r.Forced, r.Held(at), r.Held(at.Add(time.Minute)))
	}

	item[lockitem.AttrReleasedLease] = lockitem.S("lease-1")
	if r, _ := lockitem.Parse(item); !r.Released || r.Forced || r.Held(at) {
		t.Errorf("its own lease released: %+v", r)
	}
	item[lockitem.AttrForcedLease] = lockitem.S("lease-1")
	if r, _ := lockitem.Parse(item); !r.Released || !r.Forced {
		t.Errorf("its own lease force-released: %+v", r)
	}

	if _, err := lockitem.Parse(map[string]types.AttributeValue{lockitem.AttrLease: lockitem.S("x")}); err == nil {
		t.Error("an item without a lock ID parsed")
	}
	item[lockitem.AttrToken] = &types.AttributeValueMemberN{Value: "1.5"}
	if _, err := lockitem.Parse(item); err == nil || !strings.Contains(err.Error(), lockitem.AttrToken) {
		t.Errorf("a token that is not an integer: %v, want an error naming it", err)
	}
}

// TestCleanupAt rounds up to the second, after the retention.
func TestCleanupAt(t *testing.T) {
	end := time.UnixMilli(10_001)
	if got := lockitem.CleanupAt(end, time.Hour); got != 10+1+3600 {
		t.Errorf("CleanupAt(10.001 s, 1 h) = %d, want 3611", got)
	}
	if got := lockitem.CleanupAt(time.UnixMilli(10_000), 0); got != 10 {
		t.Errorf("CleanupAt(10 s, 0) = %d, want 10", got)
	}
}
