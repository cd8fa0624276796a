package lockopt_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// The setters are lock options: a func(*Options) is assignable to
// lock.Option.
var _ lock.Option = lockopt.TTL(time.Second)

// TestSetters: each setter sets its field and nothing else.
func TestSetters(t *testing.T) {
	now := func() time.Time { return time.Unix(0, 0) }
	by := time.Unix(100, 0)
	for _, tt := range []struct {
		name string
		opt  func(*lockopt.Options)
		want lockopt.Options
	}{
		{"TTL", lockopt.TTL(time.Second), lockopt.Options{TTL: time.Second}},
		{"Owner", lockopt.Owner("me"), lockopt.Options{Owner: "me"}},
		{"Metadata", lockopt.Metadata(map[string]string{"k": "v"}), lockopt.Options{Metadata: map[string]string{"k": "v"}}},
		{"Skew", lockopt.Skew(time.Millisecond), lockopt.Options{Skew: time.Millisecond}},
		{"Heartbeat", lockopt.Heartbeat(time.Second), lockopt.Options{Heartbeat: time.Second}},
		{"Retention", lockopt.Retention(time.Hour), lockopt.Options{Retention: time.Hour}},
		{"RetryInterval", lockopt.RetryInterval(time.Millisecond, time.Second), lockopt.Options{RetryInterval: time.Millisecond, MaxRetry: time.Second}},
		{"ReleaseTimeout", lockopt.ReleaseTimeout(time.Second), lockopt.Options{ReleaseTimeout: time.Second}},
		{"ReleaseBy", lockopt.ReleaseBy(by), lockopt.Options{ReleaseBy: by}},
		{"CompletionExpiry", lockopt.CompletionExpiry(time.Hour), lockopt.Options{CompletionExpiry: time.Hour}},
		{"MetadataEntry", lockopt.MetadataEntry("k", "v"), lockopt.Options{Metadata: map[string]string{"k": "v"}}},
	} {
		got := lockopt.Apply(lockopt.Options{}, []func(*lockopt.Options){tt.opt})

		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := lockopt.Apply(lockopt.Options{}, []func(*lockopt.Options){lockopt.Clock(now)}); got.Now == nil || !got.Now().Equal(now()) {
		t.Error("Clock did not set the clock")
	}
}

// TestApply: options apply in order, nil ones are skipped, and neither the
// options nor the settings they were applied to share maps or slices with
// the result, so that one call's options never change the client's
// settings or another call's.
func TestApply(t *testing.T) {
	base := lockopt.Options{TTL: time.Second, Metadata: map[string]string{"a": "1"}}
	o := lockopt.Apply(base, []lock.Option{
		lockopt.TTL(2 * time.Second),
		nil,
		lockopt.TTL(3 * time.Second),
		func(o *lockopt.Options) { o.Metadata["c"] = "3" },
		lock.WithWait(time.Minute),
	})
	if o.TTL != 3*time.Second {
		t.Errorf("TTL %s, want the last option's 3s", o.TTL)
	}
	if _, ok := base.Metadata["c"]; ok {
		t.Errorf("an option changed the base's metadata: %v", base.Metadata)
	}
	if o.Wait != time.Minute || o.Metadata["c"] != "3" {
		t.Errorf("applied: wait %s, metadata %v", o.Wait, o.Metadata)
	}

	o = lockopt.Apply(base, []func(*lockopt.Options){lockopt.MetadataEntry("e", "5")})
	if o.Metadata["a"] != "1" || o.Metadata["e"] != "5" || base.Metadata["e"] != "" {
		t.Errorf("MetadataEntry: applied %v to base %v, want the entry added to a copy", o.Metadata, base.Metadata)
	}

	meta := map[string]string{"b": "2"}
	o = lockopt.Apply(lockopt.Options{}, []func(*lockopt.Options){lockopt.Metadata(meta)})
	o.Metadata["b"] = "changed"
	if meta["b"] != "2" {
		t.Errorf("the applied metadata is its caller's map: %v", meta)
	}
}

// TestErrLeaseTooShort is its own condition, which the lock wraps.
func TestErrLeaseTooShort(t *testing.T) {
	if errors.Is(lockopt.ErrLeaseTooShort, lock.ErrLockAcquisition) || errors.Is(lockopt.ErrLeaseTooShort, lock.ErrInvalidInput) {
		t.Error("ErrLeaseTooShort matches a lock error by itself")
	}
}
