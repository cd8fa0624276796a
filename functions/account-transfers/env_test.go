package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestLoadConfig(t *testing.T) {
	defaults := config{lockTable: "locks", appTable: "app"}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*config) // applied to defaults
		wantErr []string      // substrings of the error; none means no error
	}{
		{name: "tables only", env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app"}},
		{
			name: "everything",
			env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "LOG_LEVEL": "debug", "WORK_DELAY": "20ms",
				"DYNALOCK_DISABLED": "false"},
			want: func(c *config) {
				c.logLevel, c.workDelay = slog.LevelDebug, 20*time.Millisecond
			},
		},
		{
			name: "disabled needs no lock table",
			env:  map[string]string{"APP_TABLE": "app", "DYNALOCK_DISABLED": "true"},
			want: func(c *config) { c.lockTable, c.disabled = "", true },
		},
		{
			name:    "nothing set names both tables",
			env:     map[string]string{},
			wantErr: []string{"APP_TABLE is not set", "LOCK_TABLE is not set"},
		},
		{
			name: "malformed values",
			env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "DYNALOCK_DISABLED": "yes please", "LOG_LEVEL": "loud",
				"WORK_DELAY": "-1s"},
			wantErr: []string{"DYNALOCK_DISABLED", "LOG_LEVEL", "WORK_DELAY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) == 0 {
				want := defaults
				if tt.want != nil {
					tt.want(&want)
				}
				if err != nil || got != want {
					t.Errorf("loadConfig() = %+v, %v; want %+v", got, err, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("loadConfig() = %+v, want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("loadConfig() error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestQuietLocally(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"http://127.0.0.1:8000":                    true,
		"http://localhost:8000":                    true,
		"http://[::1]:8000":                        true,
		"https://dynamodb.us-east-1.amazonaws.com": false,
		"http://10.0.0.5:8000":                     false,
		"":                                         false,
	} {
		o := dynamodb.Options{BaseEndpoint: aws.String(endpoint)}
		if quietLocally(&o); o.DisableValidateResponseChecksum != want {
			t.Errorf("endpoint %q: checksum validation off = %v, want %v", endpoint, o.DisableValidateResponseChecksum, want)
		}
	}
}

// TestQuietLocallyFromEnvironment: the endpoint the SDK's default chain
// reads from AWS_ENDPOINT_URL_DYNAMODB reaches quietLocally.
func TestQuietLocallyFromEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if o := dynamodb.NewFromConfig(cfg, quietLocally).Options(); !o.DisableValidateResponseChecksum {
		t.Errorf("endpoint %q from the environment: checksum validation is on, want off", aws.ToString(o.BaseEndpoint))
	}
}
