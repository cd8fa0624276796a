package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/lock"
)

func TestAcquire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := f.cli(nil, "acquire", "nightly-rollup", "--ttl", "2h", "--owner", "maintenance")
	r.want(t, exitOK)
	rec := f.record("nightly-rollup")
	if rec.Owner != "maintenance" || !rec.Held(time.Now().Add(119*time.Minute)) || rec.Held(time.Now().Add(121*time.Minute)) {
		t.Errorf("item %+v, want held by maintenance for 2h", rec)
	}
	if want := fmt.Sprintf("fencing token %d", rec.Token); !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}

	// The job is held off while the lock is held.
	if _, err := f.locks.Lock("nightly-rollup").Acquire(f.ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Errorf("job's acquire: %v, want ErrLockAlreadyAcquired", err)
	}
	r = f.cli(nil, "acquire", "nightly-rollup")
	r.want(t, exitHeld)
	if !strings.Contains(r.stderr, `"maintenance"`) {
		t.Errorf("stderr does not name the holder: %s", r.stderr)
	}

	r = f.cli(nil, "acquire", "other", "--ttl", "500ms")
	r.want(t, exitUsage)
}
