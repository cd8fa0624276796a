package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// defaultPermits is how many exports of one tenant run at once when
// TENANT_PERMITS is not set.
const defaultPermits = 3

// config is the function's settings, read from its environment.
type config struct {
	lockTable string        // LOCK_TABLE: the lock table; required unless disabled
	appTable  string        // APP_TABLE: the application table; required
	permits   int           // TENANT_PERMITS: exports of one tenant at once, 1 to 100 (default 3)
	disabled  bool          // DYNALOCK_DISABLED=true: no limit at all (the demo's comparison run)
	logLevel  slog.Level    // LOG_LEVEL: debug, info (the default), warn or error
	workDelay time.Duration // WORK_DELAY: how long an export works ("200ms"); demo only
}

// loadConfig reads the configuration through getenv (os.Getenv) and
// reports every missing or malformed variable at once.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{lockTable: getenv("LOCK_TABLE"), appTable: getenv("APP_TABLE"), permits: defaultPermits}
	var errs []error
	if v := getenv("DYNALOCK_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DYNALOCK_DISABLED=%q: want true or false", v))
		}
		c.disabled = b
	}
	if c.appTable == "" {
		errs = append(errs, errors.New("APP_TABLE is not set: name the application table"))
	}
	if c.lockTable == "" && !c.disabled {
		errs = append(errs, errors.New("LOCK_TABLE is not set: name the lock table (or set DYNALOCK_DISABLED=true to run without locks)"))
	}
	if v := getenv("TENANT_PERMITS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("TENANT_PERMITS=%q: want a number from 1 to 100", v))
		}
		c.permits = n
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	if v := getenv("WORK_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("WORK_DELAY=%q: want a duration such as 200ms", v))
		}
		c.workDelay = d
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// quietLocally turns off the DynamoDB client's check of response
// checksums when its endpoint (AWS_ENDPOINT_URL_DYNAMODB) is on this
// machine: DynamoDB Local sends no checksum with its error responses, and
// the SDK would log a warning for each, such as every permit found held.
// Against DynamoDB itself the check stays on.
func quietLocally(o *dynamodb.Options) {
	u, err := url.Parse(aws.ToString(o.BaseEndpoint))
	if err != nil {
		return
	}
	ip := net.ParseIP(u.Hostname())
	o.DisableValidateResponseChecksum = u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
}
