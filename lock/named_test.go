package lock_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/lock"
)

// TestNewWithoutRegion: with no region anywhere, New fails at once as
// ErrInvalidInput, naming the fix, instead of every Do failing later as an
// outage. Not parallel: it changes the environment.
func TestNewWithoutRegion(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
	}{
		{name: "AWS", endpoint: ""},
		{name: "DynamoDB Local", endpoint: srv.Endpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", tt.endpoint)
			_, err := lock.New(context.Background(), lock.Config{TableName: exampleTable, LockID: "no-region"})
			if !errors.Is(err, lock.ErrInvalidInput) {
				t.Fatalf("New without a region: %v, want ErrInvalidInput", err)
			}
			for _, s := range []string{"Config.Region", "AWS_REGION"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

// TestNewQuietOnDynamoDBLocal: a contended attempt through New against
// DynamoDB Local, which sends no checksum with its error responses, logs
// nothing (the SDK would warn on each). Not parallel: it captures the
// process's standard error, where the SDK's default logger writes.
func TestNewQuietOnDynamoDBLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stderr := captureStderr(t)
	cfg := lock.Config{TableName: exampleTable, LockID: "quiet-" + t.Name()}
	holder, err := lock.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	waiter, err := lock.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	held, err := holder.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	for range 3 {
		if err := waiter.Do(ctx, func(context.Context) error { return nil }); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
			t.Fatalf("contended Do: %v, want ErrLockAlreadyAcquired", err)
		}
	}
	if out := stderr(); out != "" {
		t.Errorf("the SDK logged on contended attempts:\n%s", out)
	}
}

// captureStderr points os.Stderr at a file until the test ends and returns
// a function that reads what was written so far.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	t.Cleanup(func() {
		os.Stderr = saved
		f.Close()
	})
	return func() string {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}
