package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotReady means an emulator did not start listening in time.
var ErrNotReady = errors.New("emulator: not ready")

// ErrNoResponse means an invocation ended without a response from the
// function: its process died, it timed out, or its init failed. Errors
// matching it are *NoResponseError values.
var ErrNoResponse = errors.New("emulator: no response from the function")

// Config says what an Instance runs.
type Config struct {
	// RIE is the path of the aws-lambda-rie binary.
	RIE string
	// Bootstrap is the path of the function's bootstrap binary.
	Bootstrap string
	// Env is the function's environment, added to this process's own.
	// AWS_LAMBDA_FUNCTION_TIMEOUT (whole seconds, default 300) sets the
	// invocation's deadline.
	Env []string
	// Output receives the emulator's and the function's standard output
	// and error; nil discards them.
	Output io.Writer
}

// Instance is one running emulator with its function: one execution
// environment. It serves one invocation at a time; Invoke serialises
// callers.
type Instance struct {
	// URL is the emulator's invocation endpoint.
	URL string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	client *http.Client
	mu     sync.Mutex // serialises invocations
	stop   sync.Once
}

// Start starts an emulator for cfg on two free loopback ports and returns
// once it accepts connections. The function's process starts on the first
// invocation, as Lambda's cold start does.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(cfg.RIE,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		cfg.Bootstrap)
	cmd.Env = append(os.Environ(), cfg.Env...)
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulator: start %s: %w", cfg.RIE, err)
	}
	in := &Instance{
		URL:    "http://" + addr + "/2015-03-31/functions/function/invocations",
		cmd:    cmd,
		exited: make(chan struct{}),
		client: &http.Client{},
	}
	go func() {
		_ = cmd.Wait()
		close(in.exited)
	}()
	if err := in.waitReady(ctx, addr, 10*time.Second); err != nil {
		in.Stop()
		return nil, err
	}
	return in, nil
}

func (in *Instance) waitReady(ctx context.Context, addr string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-in.exited:
			return fmt.Errorf("%w: emulator exited: %s", ErrNotReady, in.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s not listening after %s: %w", ErrNotReady, addr, limit, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// PID returns the emulator's process ID.
func (in *Instance) PID() int { return in.cmd.Process.Pid }

// Response is a function's answer to one invocation.
type Response struct {
	// Payload is the handler's JSON output; empty if it failed.
	Payload json.RawMessage
	// Err is the handler's error, if it returned one.
	Err *FunctionError
}

// FunctionError is the error a handler returned, as Lambda reports it.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// NoResponseError reports an invocation that ended without the function's
// response. It matches ErrNoResponse.
type NoResponseError struct {
	Status int    // the emulator's HTTP status, 0 if the connection failed
	Body   string // what the emulator said, such as "Task timed out after 3.00 seconds"
	Err    error  // the connection's error, if any
}

func (e *NoResponseError) Error() string {
	s := fmt.Sprintf("emulator: no response from the function (HTTP %d", e.Status)
	if e.Body != "" {
		s += ": " + e.Body
	}
	s += ")"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrNoResponse.
func (e *NoResponseError) Is(target error) bool { return target == ErrNoResponse }

// Unwrap returns the connection's error.
func (e *NoResponseError) Unwrap() error { return e.Err }

// Invoke sends one event to the function and waits for its response. It
// blocks while another invocation of the instance runs. A handler's error
// comes back in the Response; an error return means the function gave no
// response (see NoResponseError) or ctx ended.
func (in *Instance) Invoke(ctx context.Context, event []byte) (Response, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(event))
	if err != nil {
		return Response{}, fmt.Errorf("emulator: %w", err)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, fmt.Errorf("emulator: invoke: %w", err)
		}
		return Response{}, &NoResponseError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, &NoResponseError{Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(string(body), "Task timed out") || !json.Valid(body) {
		return Response{}, &NoResponseError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" && fe.Message != "" {
		return Response{Err: &fe}, nil
	}
	return Response{Payload: body}, nil
}

// KillFunction kills the function's process with SIGKILL, as a crash or an
// out-of-memory kill would, and leaves the emulator running; its next
// invocation starts the function afresh. An invocation in flight ends
// without a response.
func (in *Instance) KillFunction() error {
	pids, err := children(in.cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("emulator: find the function's process: %w", err)
	}
	if len(pids) == 0 {
		return errors.New("emulator: the function has no running process")
	}
	var errs []error
	for _, pid := range pids {
		errs = append(errs, killGroup(pid))
	}
	return errors.Join(errs...)
}

// Stop stops the emulator and its function: SIGTERM, then SIGKILL to both
// if they have not exited within a few seconds. It is safe to call more
// than once and from several goroutines.
func (in *Instance) Stop() {
	in.stop.Do(func() {
		pids, _ := children(in.cmd.Process.Pid)
		_ = in.cmd.Process.Signal(terminate)
		select {
		case <-in.exited:
		case <-time.After(3 * time.Second):
			_ = killGroup(in.cmd.Process.Pid)
			<-in.exited
		}
		for _, pid := range pids { // the emulator stops them; make sure
			_ = killGroup(pid)
		}
	})
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("emulator: find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
