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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dynalock/dynalock/bench"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

// coldStartRuns is how many rounds one op of BenchmarkColdStart makes: in
// each, every function starts cold once, in rotating order.
const coldStartRuns = 25

// coldStartFunctions are the functions under coldstart/: bare
// aws-lambda-go; plus a DynamoDB client; plus DynaLock's acquire and
// release sent by hand with that client (the fair baseline); the same
// with the lock package (lock.Client, no middleware); and the
// middleware's locks.
var coldStartFunctions = []string{"bare", "sdk", "sdkwrites", "lockonly", "wrapped"}

// coldStartEvent is the first event each function gets: one SQS record.
const coldStartEvent = `{"Records":[{"messageId":"m-1","body":"{\"sku\":\"cold\"}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:orders"}]}`

// BenchmarkColdStart measures the functions under coldstart/ under the
// Lambda Runtime Interface Emulator: from the start of the emulator's
// process to the first invocation's response (which for sdkwrites and
// wrapped includes an acquire and a release), and their sizes as Lambda
// runs them (linux/arm64, -tags lambda.norpc -trimpath -ldflags='-s -w'),
// bare and zipped. One op is 25 rounds, in each of which every function
// starts cold once, in turn; it reports, per function, the median and the
// slowest of all, and the medians of the two parts the emulator reports:
// the function's init (its process's start to its first request for an
// event) and the first invocation; the rest is the emulator's own start.
// And what DynaLock adds to each part beyond sdkwrites, which sends the
// same two requests without the library: the median of the rounds'
// differences (wrapped − sdkwrites), and of those the lock package's
// share (lockonly − sdkwrites).
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	root, err := bench.RepoRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	rie := filepath.Join(dir, "aws-lambda-rie")
	// The emulator is pinned as a tool in tools/go.mod, out of the library's.
	goBuild(b, filepath.Join(root, "tools"), nil, "-o", rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	db, _ := newDB(srv)
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+srv.Endpoint,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=",
		"AWS_REGION="+dynamotest.Region, "AWS_DEFAULT_REGION="+dynamotest.Region,
		"LOCK_TABLE="+lockTable(b, db))
	hosts := make(map[string]string)
	bins, zips := make(map[string]int64), make(map[string]int64)
	for _, fn := range coldStartFunctions {
		hosts[fn] = filepath.Join(dir, "host", fn, "bootstrap")
		goBuild(b, ".", nil, "-tags", "lambda.norpc", "-o", hosts[fn], "./coldstart/"+fn)
		arm := filepath.Join(dir, "arm64", fn, "bootstrap")
		goBuild(b, ".", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"},
			"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", arm, "./coldstart/"+fn)
		bins[fn], zips[fn] = sizes(b, arm)
	}
	b.ResetTimer() // it also clears metrics reported so far
	for range b.N {
		all := make(map[string][]coldStartTimes)
		var addedInit, addedInvoke, addedTotal, lockInit, lockInvoke []time.Duration
		for r := range coldStartRuns {
			round := make(map[string]coldStartTimes)
			for k := range coldStartFunctions {
				fn := coldStartFunctions[(r+k)%len(coldStartFunctions)]
				cs, err := coldStart(rie, hosts[fn], env)
				if err != nil {
					b.Fatal(err)
				}
				round[fn] = cs
				all[fn] = append(all[fn], cs)
			}
			w, l, s := round["wrapped"], round["lockonly"], round["sdkwrites"]
			addedInit = append(addedInit, w.init-s.init)
			addedInvoke = append(addedInvoke, w.invoke-s.invoke)
			addedTotal = append(addedTotal, w.total-s.total)
			lockInit = append(lockInit, l.init-s.init)
			lockInvoke = append(lockInvoke, l.invoke-s.invoke)
		}
		for fn, css := range all {
			var ds, inits, invokes []time.Duration
			for _, cs := range css {
				ds, inits, invokes = append(ds, cs.total), append(inits, cs.init), append(invokes, cs.invoke)
			}
			b.ReportMetric(ms(quantile(ds, 0.5)), fn+"-p50-ms")
			b.ReportMetric(ms(quantile(ds, 1)), fn+"-max-ms")
			b.ReportMetric(ms(quantile(inits, 0.5)), fn+"-init-p50-ms")
			b.ReportMetric(ms(quantile(invokes, 0.5)), fn+"-invoke-p50-ms")
		}
		b.ReportMetric(ms(quantile(addedInit, 0.5)), "added-init-p50-ms")
		b.ReportMetric(ms(quantile(addedInvoke, 0.5)), "added-invoke-p50-ms")
		b.ReportMetric(ms(quantile(addedTotal, 0.5)), "added-p50-ms")
		b.ReportMetric(ms(quantile(lockInit, 0.5)), "lock-added-init-p50-ms")
		b.ReportMetric(ms(quantile(lockInvoke, 0.5)), "lock-added-invoke-p50-ms")
	}
	for _, fn := range coldStartFunctions {
		b.ReportMetric(float64(bins[fn]), fn+"-bin-bytes")
		b.ReportMetric(float64(zips[fn]), fn+"-zip-bytes")
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

// coldStartTimes are the times of one cold start.
type coldStartTimes struct {
	total  time.Duration // the emulator's start to the first response
	init   time.Duration // the function's init, as the emulator reports it
	invoke time.Duration // the first invocation, as the emulator reports it
}

// coldStart starts the emulator with bootstrap, invokes it once and
// returns the time from the emulator's start to the response, with the
// init and invocation times that the emulator logs.
func coldStart(rie, bootstrap string, env []string) (coldStartTimes, error) {
	var t coldStartTimes
	invokeAddr, err := freeAddr()
	if err != nil {
		return t, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return t, err
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Env = env
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return t, err
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
			t.total = time.Since(start)
			resp.Body.Close()
			switch {
			case rerr != nil:
				return t, rerr
			case resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte("errorMessage")) || bytes.Contains(body, []byte(`"itemIdentifier"`)):
				return t, fmt.Errorf("%s: invocation failed: %d %s\n%s", bootstrap, resp.StatusCode, body, out)
			}
			if t.init, err = logged(out, initReport); err == nil {
				t.invoke, err = logged(out, invokeDone)
			}
			return t, err
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > 10*time.Second {
			return t, fmt.Errorf("invoke %s: %w\n%s", bootstrap, err, out)
		}
		time.Sleep(time.Millisecond)
	}
}

// The emulator's log lines with the function's init and invocation times
// in milliseconds.
var (
	initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeDone = regexp.MustCompile(`INVOKE RTDONE\(status: success, produced bytes: [0-9]+, duration: ([0-9.]+)ms\)`)
)

// logged waits up to two seconds for a line matching re in out, and
// returns its duration.
func logged(out *syncBuffer, re *regexp.Regexp) (time.Duration, error) {
	for stop := time.Now().Add(2 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			f, err := strconv.ParseFloat(m[1], 64)
			return time.Duration(f * float64(time.Millisecond)), err
		}
		if time.Now().After(stop) {
			return 0, fmt.Errorf("no line matching %q from the emulator:\n%s", re, out)
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and readers at once.
type syncBuffer struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
