package middleware

import (
	"os"
	"strings"
)

// envIdempotencyDisabled turns idempotency off for local runs, read when a
// wrapper is built: the name Powertools for AWS Lambda gives the same
// switch, so that one setting in a local environment turns off both.
const envIdempotencyDisabled = "POWERTOOLS_IDEMPOTENCY_DISABLED"

// idempotencyOffByEnv reports whether the environment turns idempotency
// off: envIdempotencyDisabled set to a true value as Powertools reads it
// ("1", "y", "yes", "t", "true", "on", in any case).
func idempotencyOffByEnv() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(envIdempotencyDisabled))) {
	case "1", "y", "yes", "t", "true", "on":
		return true
	}
	return false
}

// applyIdempotencyEnv turns the wrapper's idempotency off when the
// environment says so, once its key is checked (a key that cannot work
// still fails the build), and says so in a warning: every delivery of an
// event then runs the handler.
func applyIdempotencyEnv(inv *invoker) {
	if inv.err != nil || inv.o.idem == nil || inv.o.disabled || !idempotencyOffByEnv() {
		return
	}
	inv.o.idem.off = true
	inv.o.logger.Warn("idempotency is off: " + envIdempotencyDisabled + " is set; every delivery of an event runs the handler. " +
		"Use it for local runs and tests only")
}
