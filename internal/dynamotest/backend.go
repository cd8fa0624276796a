package dynamotest

import (
	"fmt"
	"os"
	"testing"
)

// Double reports whether the tests run on the in-memory double
// (EnvBackend=double) rather than DynamoDB Local.
func Double() bool { return os.Getenv(EnvBackend) == BackendDouble }

// checkBackend refuses an unknown EnvBackend: a typo must not quietly run
// the tests on another backend.
func checkBackend() error {
	switch b := os.Getenv(EnvBackend); b {
	case "", "local", BackendDouble:
		return nil
	default:
		return fmt.Errorf("dynamotest: %s=%q: want local (or unset) or %s", EnvBackend, b, BackendDouble)
	}
}

// NotOnDouble skips t on the double, saying why: for a test that checks
// something of DynamoDB Local itself rather than DynamoDB's behaviour (its
// own quirks, or the wire between the SDK and a JVM). Every call is a gap
// in the conformance suite: keep them few, and name the reason.
// grep -rn NotOnDouble lists them.
func NotOnDouble(t testing.TB, why string) {
	t.Helper()
	if Double() {
		t.Skipf("not run on the in-memory double: %s", why)
	}
}
