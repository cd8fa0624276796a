package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// takeOver lets holder-b take lock id over once the first lease has ended:
// holder-b's clock is two minutes ahead, past the first lease's end and
// the clock-skew tolerance.
func (f *fixture) takeOver(id string) *lock.Lease {
	f.t.Helper()
	return f.acquire(f.ctx, id, lockopt.Owner("holder-b"), lockopt.Clock(offsetClock(2*time.Minute)))
}

// wantHeldBy checks that lock id is still held by lease l and was not
// force-released.
func (f *fixture) wantHeldBy(id string, l *lock.Lease) {
	f.t.Helper()
	rec := f.record(id)
	if rec.LeaseID != l.LeaseID() || rec.Token != l.FencingToken() || rec.Released || rec.Forced {
		f.t.Errorf("lock %q is now %+v, want still held by lease %s (token %d)", id, rec, l.LeaseID(), l.FencingToken())
	}
}

func TestReleaseRefusesWhenChangedHands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("token seen before a takeover after expiry", func(t *testing.T) {
		a := f.acquire(f.ctx, "job-1", lockopt.Owner("holder-a"))
		b := f.takeOver("job-1")
		seen := strconv.FormatInt(a.FencingToken(), 10)
		for _, args := range [][]string{
			{"--token", seen},
			{"--token", seen, "--lease", a.LeaseID()},
		} {
			r := f.cli(nil, append([]string{"release", "job-1", "--force", "--reason", "stuck"}, args...)...)
			r.want(t, exitHeld)
			for _, want := range []string{"changed hands", "expected token " + seen, `"holder-b"`, fmt.Sprintf("token %d", b.FencingToken())} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q: %s", want, r.stderr)
				}
			}
			f.wantHeldBy("job-1", b)
		}
	})

	t.Run("takeover while the operator confirms", func(t *testing.T) {
		f.acquire(f.ctx, "job-2", lockopt.Owner("holder-a"))
		var b *lock.Lease
		stdin := &hookReader{hook: func() { b = f.takeOver("job-2") }, r: strings.NewReader("yes\n")}
		r := f.cli(stdin, "release", "job-2", "--force", "--reason", "stuck")
		r.want(t, exitHeld)
		if !strings.Contains(r.stdout, "holder-a") || !strings.Contains(r.stdout, "Only yes will be accepted") {
			t.Errorf("stdout does not show holder-a and ask:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, `"holder-b"`) {
			t.Errorf("stderr does not name the new holder: %s", r.stderr)
		}
		f.wantHeldBy("job-2", b)
	})

	t.Run("lease given does not match", func(t *testing.T) {
		a := f.acquire(f.ctx, "job-3", lockopt.Owner("holder-a"))
		r := f.cli(nil, "release", "job-3", "--force", "--reason", "stuck",
			"--token", strconv.FormatInt(a.FencingToken(), 10), "--lease", "another-lease")
		r.want(t, exitUsage) // a mistyped --lease: the token is the holder's
		if !strings.Contains(r.stderr, `--lease "another-lease" does not match`) {
			t.Errorf("stderr does not say which flag did not match: %s", r.stderr)
		}
		f.wantHeldBy("job-3", a)
	})
}

func TestForceRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("with token", func(t *testing.T) {
		a := f.acquire(f.ctx, "deploy", lockopt.Owner("stuck-fn"))
		r := f.cli(nil, "release", "deploy", "--force", "--token", strconv.FormatInt(a.FencingToken(), 10),
			"--reason", "deploy stuck since 03:00", "--by", "ops@example")
		r.want(t, exitOK)
		if !strings.Contains(r.stdout, `Released lock "deploy"`) {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		rec := f.record("deploy")
		if !rec.Forced || rec.LeaseID != a.LeaseID() || rec.ReleasedBy != "ops@example" ||
			rec.ReleaseReason != "deploy stuck since 03:00" || rec.ReleasedAt.IsZero() {
			t.Errorf("item after force release: %+v", rec)
		}
		if err := a.Extend(f.ctx, 0); !errors.Is(err, lock.ErrLockLost) {
			t.Errorf("old holder's Extend: %v, want ErrLockLost", err)
		}
		if err := a.Release(f.ctx); !errors.Is(err, lock.ErrLockLost) {
			t.Errorf("old holder's Release: %v, want ErrLockLost", err)
		}
		// The audit trail survives the old holder's attempts, and the next
		// holder gets a greater token.
		if rec := f.record("deploy"); rec.ReleasedBy != "ops@example" {
			t.Errorf("ReleasedBy is now %q", rec.ReleasedBy)
		}
		c := f.acquire(f.ctx, "deploy")
		if c.FencingToken() <= a.FencingToken() {
			t.Errorf("next token %d not above %d", c.FencingToken(), a.FencingToken())
		}
		r = f.cli(nil, "show", "deploy", "--json")
		r.want(t, exitOK)
		var v lockView
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatal(err)
		}
		if v.State != stateHeld || v.Forced || v.ReleasedBy != "" ||
			v.EarlierForce == nil || *v.EarlierForce != (forceView{By: "ops@example", Reason: "deploy stuck since 03:00"}) {
			t.Errorf("the next holder's lock shows %+v", v)
		}
	})

	t.Run("confirmed", func(t *testing.T) {
		a := f.acquire(f.ctx, "rollup", lockopt.Owner("nightly-rollup"))
		r := f.cli(strings.NewReader("yes\n"), "release", "rollup", "--force", "--reason", "job crashed")
		r.want(t, exitOK)
		rec := f.record("rollup")
		if !rec.Forced || rec.LeaseID != a.LeaseID() || rec.ReleasedBy != defaultBy() || rec.ReleaseReason != "job crashed" {
			t.Errorf("item after force release: %+v", rec)
		}
		r = f.cli(nil, "show", "rollup")
		r.want(t, exitOK)
		for _, want := range []string{"force-released", "Released at", "Released by", defaultBy(), "Release reason", "job crashed"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("show lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("lease ended", func(t *testing.T) {
		a := f.acquire(f.ctx, "old", lockopt.Clock(offsetClock(-10*time.Minute)))
		r := f.cli(nil, "release", "old", "--force", "--reason", "tidy up", "--token", strconv.FormatInt(a.FencingToken(), 10))
		r.want(t, exitOK)
		if !strings.Contains(r.stdout, "lease has ended") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if rec := f.record("old"); !rec.Released {
			t.Errorf("not released: %+v", rec)
		}
	})
}

func TestReleaseDoesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.acquire(f.ctx, "held", lockopt.Owner("holder-a"))

	for _, tt := range []struct {
		name, stdin string
	}{
		{"answer no", "no\n"},
		{"answer y", "y\n"},
		{"no answer", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.cli(strings.NewReader(tt.stdin), "release", "held", "--force", "--reason", "stuck")
			r.want(t, exitError)
			if !strings.Contains(r.stderr, "not confirmed") {
				t.Errorf("stderr %q", r.stderr)
			}
			f.wantHeldBy("held", a)
		})
	}

	t.Run("interrupted at the prompt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		pr, pw := io.Pipe()
		defer pw.Close()
		stdin := &hookReader{hook: cancel, r: pr} // Ctrl-C, then the read blocks
		r := runCLI(ctx, stdin, "release", "held", "--force", "--reason", "stuck", "--table", f.table, "--endpoint", srv.Endpoint)
		r.want(t, exitError)
		if !strings.Contains(r.stderr, "interrupted") {
			t.Errorf("stderr %q", r.stderr)
		}
		f.wantHeldBy("held", a)
	})

	t.Run("released by its holder", func(t *testing.T) {
		b := f.acquire(f.ctx, "done")
		if err := b.Release(f.ctx); err != nil {
			t.Fatal(err)
		}
		r := f.cli(nil, "release", "done", "--force", "--reason", "stuck")
		r.want(t, exitOK)
		if !strings.Contains(r.stdout, "already released by its holder") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if rec := f.record("done"); rec.Forced || rec.ReleasedBy != "" {
			t.Errorf("a lock already released was force-released: %+v", rec)
		}
	})

	t.Run("not found", func(t *testing.T) {
		r := f.cli(nil, "release", "missing", "--force", "--reason", "stuck")
		r.want(t, exitNotFound)
	})
}

func TestReleaseUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.acquire(f.ctx, "held")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"without --force", []string{"release", "held", "--reason", "x"}, "--force"},
		{"without --reason", []string{"release", "held", "--force"}, "--reason is required"},
		{"blank --reason", []string{"release", "held", "--force", "--reason", " "}, "--reason is required"},
		{"--lease without --token", []string{"release", "held", "--force", "--reason", "x", "--lease", "l"}, "--lease needs --token"},
		{"bad token", []string{"release", "held", "--force", "--reason", "x", "--token", "abc"}, "not a fencing token"},
		{"no ID", []string{"release", "--force", "--reason", "x"}, "missing lock ID"},
		{"two IDs", []string{"release", "held", "other", "--force", "--reason", "x"}, `unexpected argument(s) "other"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.cli(nil, tt.args...)
			r.want(t, exitUsage)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q: %s", tt.want, r.stderr)
			}
			f.wantHeldBy("held", a)
		})
	}
}
