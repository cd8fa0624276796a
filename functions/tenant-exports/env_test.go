package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	defaults := config{lockTable: "locks", appTable: "app", permits: defaultPermits}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*config) // applied to defaults
		wantErr []string      // substrings of the error; none means no error
	}{
		{name: "tables only", env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app"}},
		{
			name: "everything",
			env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "TENANT_PERMITS": "5", "LOG_LEVEL": "debug",
				"WORK_DELAY": "200ms", "DYNALOCK_DISABLED": "false"},
			want: func(c *config) { c.permits, c.logLevel, c.workDelay = 5, slog.LevelDebug, 200*time.Millisecond },
		},
		{
			name: "disabled needs no lock table",
			env:  map[string]string{"APP_TABLE": "app", "DYNALOCK_DISABLED": "true"},
			want: func(c *config) { c.lockTable, c.disabled = "", true },
		},
		{name: "nothing set names both tables", env: map[string]string{}, wantErr: []string{"APP_TABLE is not set", "LOCK_TABLE is not set"}},
		{
			name: "malformed values",
			env: map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "TENANT_PERMITS": "0", "DYNALOCK_DISABLED": "yes please",
				"LOG_LEVEL": "loud", "WORK_DELAY": "-1s"},
			wantErr: []string{"TENANT_PERMITS", "DYNALOCK_DISABLED", "LOG_LEVEL", "WORK_DELAY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one naming %v", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			if tt.want != nil {
				tt.want(&want)
			}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}
