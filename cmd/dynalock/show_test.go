package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/internal/lockopt"
)

func TestShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := lambdacontext.NewContext(f.ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	l := f.acquire(ctx, "accounts/42", lockopt.Owner("account-events"), lockopt.Metadata(map[string]string{"account": "42", "env": "dev"}))

	t.Run("table", func(t *testing.T) {
		r := f.cli(nil, "show", "accounts/42")
		r.want(t, exitOK)
		for _, want := range []string{
			`(?m)^Lock ID +accounts/42$`,
			`(?m)^State +held$`,
			`(?m)^Owner +account-events$`,
			`(?m)^Lease ID +` + l.LeaseID() + `$`,
			fmt.Sprintf(`(?m)^Fencing token +%d$`, l.FencingToken()),
			`(?m)^Request ID +req-7$`,
			`(?m)^Acquired at +\S+ \(\S+ ago\)$`,
			`(?m)^Expires at +\S+ \(in \S+\)$`,
			`(?m)^Metadata +account=42, env=dev$`,
			`(?m)^Cleanup after +\S+ \(in \S+\)$`,
		} {
			if !regexp.MustCompile(want).MatchString(r.stdout) {
				t.Errorf("output lacks %s:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "Released") {
			t.Errorf("a held lock shows release fields:\n%s", r.stdout)
		}
	})

	t.Run("json before the ID", func(t *testing.T) {
		r := f.cli(nil, "show", "--json", "accounts/42")
		r.want(t, exitOK)
		var v lockView
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		if v.LockID != "accounts/42" || v.State != stateHeld || v.LeaseID != l.LeaseID() || v.Token != l.FencingToken() ||
			v.RequestID != "req-7" || v.Metadata["env"] != "dev" || v.CleanupAt == nil || v.ReleasedAt != nil {
			t.Errorf("view %+v", v)
		}
	})

	t.Run("not found", func(t *testing.T) {
		r := f.cli(nil, "show", "accounts/43")
		r.want(t, exitNotFound)
		if !strings.Contains(r.stderr, `lock "accounts/43" not found`) {
			t.Errorf("stderr %q", r.stderr)
		}
	})

	t.Run("ID that starts with a dash, after --", func(t *testing.T) {
		r := runCLI(f.ctx, nil, "show", "--table", f.table, "--endpoint", srv.Endpoint, "--json", "--", "-x")
		r.want(t, exitNotFound)
	})
}
