package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/lockopt"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	missing := []string{"--table", dynamotest.TableName(t), "--endpoint", srv.Endpoint}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string // in stdout
		stderr string // in stderr
	}{
		{"help", []string{"help"}, exitOK, "Exit codes:", ""},
		{"--help", []string{"--help"}, exitOK, "6  table not found", ""},
		{"help of a command", []string{"help", "release"}, exitOK, "-token N", ""},
		{"-h of a command", []string{"list", "-h"}, exitOK, "", "-prefix P"},
		{"no command", nil, exitUsage, "", "Usage:"},
		{"unknown command", []string{"unlock"}, exitUsage, "", `unknown command "unlock"`},
		{"help of an unknown command", []string{"help", "unlock"}, exitUsage, "", `unknown command "unlock"`},
		{"unknown flag", []string{"list", "--everything"}, exitUsage, "", "flag provided but not defined"},
		{"no table", []string{"list", "--endpoint", srv.Endpoint}, exitUsage, "", "pass --table or set $DYNALOCK_TABLE"},
		{"no region", []string{"list", "--table", "locks"}, exitUsage, "", "no AWS region"},
		{"table missing: list", append([]string{"list"}, missing...), exitNoTable, "", "not found"},
		{"table missing: show", append([]string{"show", "x"}, missing...), exitNoTable, "", "dynalock create-table"},
		{"table missing: release", append([]string{"release", "x", "--force", "--reason", "r"}, missing...), exitNoTable, "", "ResourceNotFoundException"},
		{"lock ID too long", append([]string{"show", strings.Repeat("x", maxLockIDBytes+1)}, missing...), exitUsage, "", "key limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(ctx, nil, tt.args...)
			r.want(t, tt.code)
			if !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q\nstdout:\n%s\nstderr:\n%s", tt.stdout, tt.stderr, r.stdout, r.stderr)
			}
		})
	}
}

// An IAM policy that lets the operator read the table but not write to it:
// a proxy in front of DynamoDB Local answers UpdateItem as AWS does.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.acquire(f.ctx, "job")
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdateItem") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"com.amazon.coral.service#AccessDeniedException",` +
				`"Message":"User: arn:aws:sts::123456789012:assumed-role/oncall/me is not authorized to perform: dynamodb:UpdateItem"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer deny.Close()

	cli := func(args ...string) result {
		return runCLI(f.ctx, nil, append(args, "--table", f.table, "--endpoint", deny.URL)...)
	}
	cli("list").want(t, exitOK)
	r := cli("release", "job", "--force", "--reason", "stuck", "--token", strconv.FormatInt(l.FencingToken(), 10))
	r.want(t, exitDenied)
	if !strings.Contains(r.stderr, "access denied (AccessDeniedException)") || !strings.Contains(r.stderr, "dynamodb:UpdateItem") {
		t.Errorf("stderr %q", r.stderr)
	}
	f.wantHeldBy("job", l)
}

// The table and endpoint may come from the environment instead of flags;
// with the endpoint from the environment, the SDK's checksum warnings about
// DynamoDB Local's error responses stay silent too.
func TestEnvironment(t *testing.T) {
	f := newFixture(t)
	t.Setenv(envTable, f.table)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)
	f.acquire(f.ctx, "job", lockopt.Owner("holder-a"))
	stdin := &hookReader{hook: func() { f.takeOver("job") }, r: strings.NewReader("yes\n")}

	r := runCLI(f.ctx, stdin, "release", "job", "--force", "--reason", "r") // refused by DynamoDB
	r.want(t, exitHeld)
	if strings.Contains(strings.ToLower(r.stderr), "checksum") {
		t.Errorf("stderr has checksum warnings: %s", r.stderr)
	}
	r = runCLI(f.ctx, nil, "list")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "holder-b") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}
