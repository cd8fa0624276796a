package main

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lambdaCtx := lambdacontext.NewContext(f.ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	held := f.acquire(lambdaCtx, "orders/1", lockopt.Owner("reserve-stock"), lockopt.Metadata(map[string]string{"sku": "1"}))
	f.acquire(f.ctx, "orders/2", lockopt.Owner("reserve-stock"))
	f.acquire(f.ctx, "billing/1", lockopt.Owner("account-events"))
	if err := f.acquire(f.ctx, "orders/3").Release(f.ctx); err != nil {
		t.Fatal(err)
	}
	// A lease that ended ten minutes ago and was never released.
	f.acquire(f.ctx, "orders/4", lockopt.Clock(offsetClock(-10*time.Minute)))

	tests := []struct {
		name string
		args []string
		want map[string]string // lock ID to state
	}{
		{"held", nil, map[string]string{"billing/1": "held", "orders/1": "held", "orders/2": "held"}},
		{"all", []string{"--all"}, map[string]string{
			"billing/1": "held", "orders/1": "held", "orders/2": "held", "orders/3": "released", "orders/4": "expired"}},
		{"prefix", []string{"--prefix", "orders/"}, map[string]string{"orders/1": "held", "orders/2": "held"}},
		{"all with prefix", []string{"--all", "--prefix", "orders/"}, map[string]string{
			"orders/1": "held", "orders/2": "held", "orders/3": "released", "orders/4": "expired"}},
		{"one item a page", []string{"--all", "--page-size", "1"}, map[string]string{
			"billing/1": "held", "orders/1": "held", "orders/2": "held", "orders/3": "released", "orders/4": "expired"}},
		{"prefix matching nothing", []string{"--prefix", "nothing/"}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.cli(nil, append([]string{"list", "--json"}, tt.args...)...)
			r.want(t, exitOK)
			var views []lockView
			if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
				t.Fatalf("%v in %s", err, r.stdout)
			}
			got := map[string]string{}
			var ids []string
			for _, v := range views {
				got[v.LockID] = v.State
				ids = append(ids, v.LockID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if !sortedStrings(ids) {
				t.Errorf("not sorted by lock ID: %v", ids)
			}
		})
	}

	t.Run("json fields", func(t *testing.T) {
		r := f.cli(nil, "list", "--json", "--prefix", "orders/1")
		r.want(t, exitOK)
		var views []lockView
		if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 1 {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		v := views[0]
		if v.Owner != "reserve-stock" || v.LeaseID != held.LeaseID() || v.Token != held.FencingToken() ||
			v.RequestID != "req-1" || v.Metadata["sku"] != "1" || v.AcquiredAt == nil || v.ExpiresAt == nil {
			t.Errorf("view %+v does not describe lease %s (token %d)", v, held.LeaseID(), held.FencingToken())
		}
		if v.ExpiresInMs == nil || *v.ExpiresInMs <= 0 || *v.ExpiresInMs > lock.DefaultTTL.Milliseconds() {
			t.Errorf("expiresInMs = %v, want within the 60 s TTL", v.ExpiresInMs)
		}
	})

	t.Run("table", func(t *testing.T) {
		r := f.cli(nil, "list", "--all")
		r.want(t, exitOK)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 6 {
			t.Fatalf("want a header and 5 rows, got:\n%s", r.stdout)
		}
		for _, col := range []string{"LOCK ID", "STATE", "OWNER", "REQUEST ID", "ACQUIRED AT", "EXPIRES IN", "TOKEN"} {
			if !strings.Contains(lines[0], col) {
				t.Errorf("header %q lacks %q", lines[0], col)
			}
		}
		row := strings.Fields(lines[2])
		want := []string{"orders/1", "held", "reserve-stock", "req-1"}
		if len(row) != 7 || !reflect.DeepEqual(row[:4], want) || row[6] != strconv.FormatInt(held.FencingToken(), 10) {
			t.Errorf("row %q, want %v … token %d", lines[2], want, held.FencingToken())
		}
		if _, err := time.Parse(time.RFC3339, row[4]); err != nil {
			t.Errorf("acquired at: %v", err)
		}
		if !strings.Contains(lines[5], "orders/4") || !strings.Contains(lines[5], "ended 9m") {
			t.Errorf("expired row %q does not say when its lease ended", lines[5])
		}
	})
}

func TestListEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.cli(nil, "list")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "no held locks") {
		t.Errorf("stdout %q", r.stdout)
	}
	r = f.cli(nil, "list", "--json")
	r.want(t, exitOK)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("--json of no locks printed %q, want []", r.stdout)
	}
}

func sortedStrings(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] > ss[i] {
			return false
		}
	}
	return true
}
