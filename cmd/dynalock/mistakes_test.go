package main

import (
	"context"
	"github.com/dynalock/dynalock/admin"
	"net"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestOperatorMistakes: what an operator mistypes gets an answer that says
// what was wrong, with the documented exit code.
func TestOperatorMistakes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.acquire(f.ctx, "job", lockopt.Owner("holder-a"))
	token := strconv.FormatInt(a.FencingToken(), 10)
	release := []string{"release", "job", "--force", "--reason", "stuck"}
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stderr
		not  []string // not in stderr
	}{
		{
			name: "acquire an invalid lock ID",
			args: []string{"acquire", strings.Repeat("x", maxLockIDBytes+1)},
			code: exitUsage, want: []string{"key limit"},
		},
		{
			name: "token mistyped, the holder still has the lock",
			args: append(release, "--token", strconv.FormatInt(a.FencingToken()+1, 10)),
			code: exitUsage,
			want: []string{"--token " + strconv.FormatInt(a.FencingToken()+1, 10) + " does not match", "token " + token, `"holder-a"`, "not released"},
			not:  []string{"changed hands"},
		},
		{
			name: "token mistyped, lease right",
			args: append(release, "--token", "7", "--lease", a.LeaseID()),
			code: exitUsage,
			want: []string{"--token 7 does not match", "--lease matches", "token " + token},
			not:  []string{"changed hands"},
		},
		{
			name: "lease mistyped, token right",
			args: append(release, "--token", token, "--lease", "another-lease"),
			code: exitUsage,
			want: []string{`--lease "another-lease" does not match`, "lease " + a.LeaseID(), "--token matches"},
			not:  []string{"changed hands"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.cli(nil, tt.args...)
			r.want(t, tt.code)
			for _, s := range tt.want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q: %s", s, r.stderr)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr says %q: %s", s, r.stderr)
				}
			}
			f.wantHeldBy("job", a)
		})
	}
}

// TestEndpointMistakes: an endpoint without a scheme, or with nothing
// listening, gets a hint instead of the SDK's raw error.
func TestEndpointMistakes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := "http://" + l.Addr().String()
	l.Close()
	tests := []struct {
		name     string
		endpoint string
		code     int
		want     []string
	}{
		{"no scheme", strings.TrimPrefix(srv.Endpoint, "http://"), exitUsage, []string{"--endpoint", "http://"}},
		{"not a URL", "http://[::1", exitUsage, []string{"--endpoint"}},
		{"nothing listening", nothing, exitError, []string{"cannot reach DynamoDB at " + nothing, "Is DynamoDB Local running"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(ctx, nil, "list", "--table", "locks", "--endpoint", tt.endpoint)
			r.want(t, tt.code)
			for _, s := range tt.want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q: %s", s, r.stderr)
				}
			}
		})
	}
}

// TestDefaultByWithoutUSER: with $USER and $LOGNAME unset (cron, some
// containers), ReleasedBy still names the OS user. Not parallel: it
// changes the environment.
func TestDefaultByWithoutUSER(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("USER", "")
	t.Setenv("LOGNAME", "")
	if got := defaultBy(); !strings.HasPrefix(got, u.Username+"@") && got != u.Username {
		t.Errorf("defaultBy() = %q, want %s@host", got, u.Username)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(context.Background(), nil, args...)
		r.want(t, exitOK)
		if !regexp.MustCompile(`^dynalock `+regexp.QuoteMeta(version)+`\n`).MatchString(r.stdout) || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%v: stdout %q", args, r.stdout)
		}
	}
}

// TestTableWithoutTTL: list and show say when the table's TTL is off, so
// that released locks are never cleaned up, on stderr (the JSON on stdout
// stays as it is).
func TestTableWithoutTTL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, table := srv.Client(), dynamotest.TableName(t)
	if _, err := db.CreateTable(ctx, admin.Table.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	locks, err := lock.NewClient(ctx, lock.Config{TableName: table, DynamoDB: db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locks.Lock("job").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"show", "job"}} {
		r := runCLI(ctx, nil, append(args, "--table", table, "--endpoint", srv.Endpoint)...)
		r.want(t, exitOK)
		if !strings.Contains(r.stderr, "TTL is off") || !strings.Contains(r.stderr, "never deleted") {
			t.Errorf("%v: stderr does not warn of TTL off: %q", args, r.stderr)
		}
	}
	// A table with TTL on gets no such note.
	f := newFixture(t)
	f.acquire(f.ctx, "job")
	if r := f.cli(nil, "list"); r.stderr != "" {
		t.Errorf("list on a table with TTL: stderr %q", r.stderr)
	}
}

// TestShowReleased: a released lock shows no expiry in the future.
func TestShowReleased(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.acquire(f.ctx, "job", lockopt.TTL(time.Hour)).Release(f.ctx); err != nil {
		t.Fatal(err)
	}
	r := f.cli(nil, "show", "job")
	r.want(t, exitOK)
	if regexp.MustCompile(`(?m)^Expires at .*\(in `).MatchString(r.stdout) {
		t.Errorf("a released lock shows a future expiry:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^State +released$`).MatchString(r.stdout) {
		t.Errorf("state:\n%s", r.stdout)
	}
}
