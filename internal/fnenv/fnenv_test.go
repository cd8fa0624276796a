package fnenv_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/fnenv"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    fnenv.Config
		wantErr []string // substrings of the error; none means no error
	}{
		{
			name: "tables only",
			env:  map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app"},
			want: fnenv.Config{LockTable: "locks", AppTable: "app"},
		},
		{
			name: "everything",
			env:  map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "LOG_LEVEL": "debug", "WORK_DELAY": "20ms", "DYNALOCK_DISABLED": "false"},
			want: fnenv.Config{LockTable: "locks", AppTable: "app", LogLevel: slog.LevelDebug, WorkDelay: 20 * time.Millisecond},
		},
		{
			name: "disabled needs no lock table",
			env:  map[string]string{"APP_TABLE": "app", "DYNALOCK_DISABLED": "true"},
			want: fnenv.Config{AppTable: "app", Disabled: true},
		},
		{
			name: "idempotency off",
			env:  map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "DYNALOCK_IDEMPOTENCY": "false"},
			want: fnenv.Config{LockTable: "locks", AppTable: "app", NoIdempotency: true},
		},
		{
			name:    "nothing set names both tables",
			env:     map[string]string{},
			wantErr: []string{"APP_TABLE is not set", "LOCK_TABLE is not set"},
		},
		{
			name:    "malformed values",
			env:     map[string]string{"LOCK_TABLE": "locks", "APP_TABLE": "app", "DYNALOCK_DISABLED": "yes please", "LOG_LEVEL": "loud", "WORK_DELAY": "-1s", "DYNALOCK_IDEMPOTENCY": "maybe"},
			wantErr: []string{"DYNALOCK_DISABLED", "LOG_LEVEL", "WORK_DELAY", "DYNALOCK_IDEMPOTENCY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fnenv.Load(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) == 0 {
				if err != nil || got != tt.want {
					t.Errorf("Load() = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load() = %+v, want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Load() error %q does not mention %q", err, s)
				}
			}
		})
	}
}
