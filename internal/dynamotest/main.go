package dynamotest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// Main runs a test binary's tests with one DynamoDB Local, which *srv points
// at while they run. Call it from TestMain:
//
//	var srv *dynamotest.Server
//	func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }
//
// setup functions run once the server is up, before the tests; an error
// from one fails the binary.
func Main(m *testing.M, srv **Server, setup ...func(*Server) error) {
	s, err := Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	for _, f := range setup {
		if err := f(s); err != nil {
			s.Stop()
			fmt.Fprintln(os.Stderr, "dynamotest: setup:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

var tableSeq atomic.Int64

// TableName returns a table name unique within the test binary and across
// binaries sharing one server, readable after the test's name.
func TableName(t testing.TB) string {
	name := fmt.Sprintf("t%d-%d-%s", os.Getpid(), tableSeq.Add(1), t.Name())
	clean := make([]byte, 0, len(name))
	for i := 0; i < len(name) && len(clean) < 255; i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			clean = append(clean, c)
		default:
			clean = append(clean, '_')
		}
	}
	return string(clean)
}
