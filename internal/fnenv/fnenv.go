// Package fnenv reads the example functions' configuration from their
// environment and builds what they share — a DynamoDB client, a lock
// client, a logger, the middleware options — once, at init.
package fnenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/ddbclient"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// The environment variables the functions read.
const (
	// LockTable names the lock table. Required unless Disabled is set.
	LockTable = "LOCK_TABLE"
	// AppTable names the application table. Required.
	AppTable = "APP_TABLE"
	// Disabled, when "true", runs the handlers without locks: the demo's
	// comparison run. Optional; any strconv.ParseBool value.
	Disabled = "DYNALOCK_DISABLED"
	// LogLevel is the level of the JSON log lines: debug, info (the
	// default), warn or error.
	LogLevel = "LOG_LEVEL"
	// WorkDelay is simulated work between a handler's read and its write,
	// as a Go duration ("20ms"). Demo only; the default is none.
	WorkDelay = "WORK_DELAY"
	// Idempotency, when "false", runs the handlers without the
	// middleware's idempotency (each delivery of an event runs): the
	// demo's duplicates comparison. Optional; any strconv.ParseBool value;
	// the default is true.
	Idempotency = "DYNALOCK_IDEMPOTENCY"
)

// Config is a function's configuration.
type Config struct {
	LockTable string
	AppTable  string
	Disabled  bool
	LogLevel  slog.Level
	WorkDelay time.Duration
	// NoIdempotency is Idempotency=false.
	NoIdempotency bool
}

// Load reads the configuration through getenv (os.Getenv in a function).
// It reports every missing or malformed variable at once.
func Load(getenv func(string) string) (Config, error) {
	c := Config{LockTable: getenv(LockTable), AppTable: getenv(AppTable)}
	var errs []error
	if v := getenv(Disabled); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", Disabled, v))
		}
		c.Disabled = b
	}
	if c.AppTable == "" {
		errs = append(errs, fmt.Errorf("%s is not set: name the application table", AppTable))
	}
	if c.LockTable == "" && !c.Disabled {
		errs = append(errs, fmt.Errorf("%s is not set: name the lock table (or set %s=true to run without locks)", LockTable, Disabled))
	}
	if v := getenv(Idempotency); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", Idempotency, v))
		}
		c.NoIdempotency = !b
	}
	if v := getenv(LogLevel); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want debug, info, warn or error", LogLevel, v))
		}
	}
	if v := getenv(WorkDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 20ms", WorkDelay, v))
		}
		c.WorkDelay = d
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("fnenv: configuration: %w", err)
	}
	return c, nil
}

// Env is what a function builds at init.
type Env struct {
	Config
	// DB is the DynamoDB client of both tables.
	DB *dynamodb.Client
	// Locks is the lock client; nil when locking is disabled.
	Locks *lock.Client
	// Log writes JSON lines to standard output at the configured level.
	Log *slog.Logger
}

// DynamoDB returns the DynamoDB client of both tables: the one the lock
// builds when its Config names none, from the AWS SDK's default chain, so
// AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local (and on a loopback
// address response checksums are not validated: DynamoDB Local sends none
// with errors). It sends no request.
func DynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	db, err := ddbclient.New(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("fnenv: %w", err)
	}
	return db, nil
}

// Setup loads the configuration through getenv and builds the clients:
// the DynamoDB client (DynamoDB) and, unless Disabled, the lock client
// over it with the lock's defaults. It sends no request.
func Setup(ctx context.Context, getenv func(string) string) (*Env, error) {
	c, err := Load(getenv)
	if err != nil {
		return nil, err
	}
	db, err := DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	e := &Env{
		Config: c,
		DB:     db,
		Log:    slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel})),
	}
	if !c.Disabled {
		if e.Locks, err = lock.NewClient(ctx, lock.Config{TableName: c.LockTable, DynamoDB: db}); err != nil {
			return nil, fmt.Errorf("fnenv: %w", err)
		}
	}
	return e, nil
}

// Middleware returns the middleware options every function uses: locks
// named namespace + "/" + key, the Disabled switch, the JSON logger and
// one Embedded Metric Format line per invocation on standard output; then
// opts.
func (e *Env) Middleware(namespace string, opts ...middleware.Option) []middleware.Option {
	return append([]middleware.Option{
		middleware.WithNamespace(namespace),
		middleware.WithDisabled(e.Disabled),
		middleware.WithLogger(e.Log),
		middleware.WithMetrics(os.Stdout),
	}, opts...)
}

// Idempotent returns the middleware option WithIdempotency(key), or none
// when the Idempotency switch is off.
func Idempotent[T any](e *Env, key middleware.Key[T]) []middleware.Option {
	if e.NoIdempotency {
		return nil
	}
	return []middleware.Option{middleware.WithIdempotency(key)}
}
