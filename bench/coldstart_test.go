package bench_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dynalock/dynalock/bench"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

// coldStartRuns is how many cold starts one op of BenchmarkColdStart
// makes.
const coldStartRuns = 10

// coldStartFunctions are the functions under coldstart/: bare
// aws-lambda-go, plus a DynamoDB client, plus the middleware's locks.
var coldStartFunctions = []string{"bare", "sdk", "wrapped"}

// coldStartEvent is the first event each function gets: one SQS record.
const coldStartEvent = `{"Records":[{"messageId":"m-1","body":"{\"sku\":\"cold\"}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:orders"}]}`

// BenchmarkColdStart measures the functions under coldstart/ under the
// Lambda Runtime Interface Emulator: from the start of the emulator's
// process to the first invocation's response (which for wrapped includes
// its lock's acquire and release), and their sizes as Lambda runs them
// (linux/arm64, -tags lambda.norpc -trimpath -ldflags='-s -w'), bare and
// zipped. One op is 10 cold starts; it reports the median and the
// slowest of all.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	root, err := bench.RepoRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	rie := filepath.Join(dir, "aws-lambda-rie")
	goBuild(b, root, nil, "-o", rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	db, _ := newDB(srv)
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+srv.Endpoint,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=",
		"AWS_REGION="+dynamotest.Region, "AWS_DEFAULT_REGION="+dynamotest.Region,
		"LOCK_TABLE="+lockTable(b, db))
	for _, fn := range coldStartFunctions {
		host := filepath.Join(dir, "host", fn, "bootstrap")
		goBuild(b, ".", nil, "-tags", "lambda.norpc", "-o", host, "./coldstart/"+fn)
		arm := filepath.Join(dir, "arm64", fn, "bootstrap")
		goBuild(b, ".", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"},
			"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", arm, "./coldstart/"+fn)
		size, zipped := sizes(b, arm)
		b.Run("fn="+fn, func(b *testing.B) {
			var ds []time.Duration
			for range b.N * coldStartRuns {
				d, err := coldStart(rie, host, env)
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, d)
			}
			b.ReportMetric(ms(quantile(ds, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(ds, 1)), "max-ms")
			b.ReportMetric(float64(size), "bin-bytes")
			b.ReportMetric(float64(zipped), "zip-bytes")
		})
	}
}

// goBuild runs go build in dir with env added to the environment.
func goBuild(b *testing.B, dir string, env []string, args ...string) {
	b.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sizes returns the size of the binary at path, and of a zip holding it as
// bootstrap (a Lambda deployment package).
func sizes(b *testing.B, path string) (size, zipped int64) {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	return int64(len(data)), int64(buf.Len())
}

// coldStart starts the emulator with bootstrap, invokes it once and
// returns the time from the emulator's start to the response.
func coldStart(rie, bootstrap string, env []string) (time.Duration, error) {
	invokeAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"
	for {
		resp, err := http.Post(url, "application/json", strings.NewReader(coldStartEvent))
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			took := time.Since(start)
			resp.Body.Close()
			switch {
			case rerr != nil:
				return 0, rerr
			case resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte("errorMessage")) || bytes.Contains(body, []byte(`"itemIdentifier"`)):
				return 0, fmt.Errorf("%s: invocation failed: %d %s\n%s", filepath.Base(filepath.Dir(bootstrap)), resp.StatusCode, body, out.String())
			}
			return took, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > 10*time.Second {
			return 0, fmt.Errorf("invoke %s: %w\n%s", bootstrap, err, out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
