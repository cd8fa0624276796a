package emulator_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/emulator"
)

// bins is the emulator and the echo function, built once.
var bins struct {
	once sync.Once
	dir  string
	err  error
}

func config(t *testing.T, env ...string) emulator.Config {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "emulator-test")
		if bins.err != nil {
			return
		}
		ctx := context.Background()
		if bins.err = emulator.BuildRIE(ctx, filepath.Join(bins.dir, "aws-lambda-rie")); bins.err != nil {
			return
		}
		bins.err = emulator.Build(ctx, "./testdata/echo", filepath.Join(bins.dir, "bootstrap"))
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return emulator.Config{RIE: filepath.Join(bins.dir, "aws-lambda-rie"), Bootstrap: filepath.Join(bins.dir, "bootstrap"), Env: env, Output: t.Output()}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

func start(t *testing.T, env ...string) *emulator.Instance {
	t.Helper()
	in, err := emulator.Start(context.Background(), config(t, env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	return in
}

func TestInvoke(t *testing.T) {
	in := start(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		event       string
		wantPayload string
		wantErr     string
	}{
		{name: "output", event: `{"say":"hi"}`, wantPayload: `{"say":"hi","sleepMs":0,"fail":""}`},
		{name: "handler error", event: `{"fail":"no stock"}`, wantErr: "no stock"},
		{name: "output again", event: `{"say":"again"}`, wantPayload: `{"say":"again","sleepMs":0,"fail":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := in.Invoke(ctx, []byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Payload) != tt.wantPayload {
				t.Errorf("payload = %s, want %s", resp.Payload, tt.wantPayload)
			}
			if tt.wantErr == "" && resp.Err != nil || tt.wantErr != "" && (resp.Err == nil || resp.Err.Message != tt.wantErr) {
				t.Errorf("handler error = %v, want %q", resp.Err, tt.wantErr)
			}
		})
	}
}

func TestInvokeTimeout(t *testing.T) {
	in := start(t, "AWS_LAMBDA_FUNCTION_TIMEOUT=1")
	_, err := in.Invoke(context.Background(), []byte(`{"sleepMs":5000}`))
	var nr *emulator.NoResponseError
	if !errors.As(err, &nr) {
		t.Fatalf("Invoke past the timeout: err = %v, want a *NoResponseError", err)
	}
}

// A function killed mid-invocation gives no response; the next invocation
// starts it afresh.
func TestKillFunction(t *testing.T) {
	in := start(t)
	ctx := context.Background()
	if _, err := in.Invoke(ctx, []byte(`{}`)); err != nil { // cold start
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := in.Invoke(ctx, []byte(`{"sleepMs":60000}`))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the invocation reach the handler
	if err := in.KillFunction(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, emulator.ErrNoResponse) {
		t.Fatalf("invocation of a killed function: err = %v, want emulator.ErrNoResponse", err)
	}
	resp, err := in.Invoke(ctx, []byte(`{"say":"back"}`))
	if err != nil || resp.Err != nil {
		t.Fatalf("invocation after the kill: %v, %v", err, resp.Err)
	}
}
