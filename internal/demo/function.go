package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/dynalock/dynalock/internal/emulator"
)

// Function is a pool of emulators running one function: one execution
// environment each. Invoke runs on an idle one, so the pool's size is the
// function's concurrency.
type Function struct {
	// Name is the function's name.
	Name string

	idle    chan *emulator.Instance
	mu      sync.Mutex // protects all, logs and paths
	all     []*emulator.Instance
	logs    []io.Closer
	paths   []string
	metrics Metrics
	invoked atomic.Int64
	sqs     *SQS // the stand-in DeliverSQS delivers from
}

// Metrics are the sums of the Embedded Metric Format lines a function's
// invocations wrote (see middleware.WithMetrics).
type Metrics struct {
	// Contended counts locks found held at the first attempt.
	Contended atomic.Int64
	// Skipped counts events skipped because their lock was held.
	Skipped atomic.Int64
	// FailedRecords counts SQS records reported as failed.
	FailedRecords atomic.Int64
	// ReleaseFailures counts releases that did not go through.
	ReleaseFailures atomic.Int64
	// Duplicates counts duplicates of completed events answered from the
	// store (middleware.WithIdempotency).
	Duplicates atomic.Int64
}

func newFunction(name string) *Function {
	return &Function{Name: name, idle: make(chan *emulator.Instance, 64)}
}

func (f *Function) add(in *emulator.Instance, log io.Closer, path string) {
	f.mu.Lock()
	f.all = append(f.all, in)
	f.logs = append(f.logs, log)
	f.paths = append(f.paths, path)
	f.mu.Unlock()
	f.idle <- in
}

// Instances returns the function's emulators.
func (f *Function) Instances() []*emulator.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*emulator.Instance(nil), f.all...)
}

// LogFiles returns the paths of the emulators' output files.
func (f *Function) LogFiles() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

// Metrics returns the function's metrics so far.
func (f *Function) Metrics() *Metrics { return &f.metrics }

// Invocations returns how many invocations the function has had.
func (f *Function) Invocations() int64 { return f.invoked.Load() }

// Invoke invokes the function with event on an idle emulator, waiting for
// one to be idle. Its results are those of emulator.Instance.Invoke.
func (f *Function) Invoke(ctx context.Context, event []byte) (emulator.Response, error) {
	var in *emulator.Instance
	select {
	case in = <-f.idle:
	case <-ctx.Done():
		return emulator.Response{}, fmt.Errorf("demo: %s: %w", f.Name, ctx.Err())
	}
	defer func() { f.idle <- in }()
	f.invoked.Add(1)
	return in.Invoke(ctx, event)
}

// Stop stops the function's emulators and closes their logs.
func (f *Function) Stop() {
	f.mu.Lock()
	all, logs := f.all, f.logs
	f.all, f.logs = nil, nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(in.Stop)
	}
	wg.Wait()
	for _, l := range logs {
		l.Close()
	}
}

// output returns the writer of one emulator's output: each line goes to
// log, and the function's EMF lines add to its metrics. Lines are handled
// as they are written, so once the emulator has been stopped (and its
// output copied) the metrics are complete.
func (f *Function) output(log io.Writer) io.Writer {
	return &lineWriter{log: log, m: &f.metrics}
}

// lineWriter splits output into lines. os/exec calls Write from one
// goroutine at a time when Stdout and Stderr are the same writer.
type lineWriter struct {
	log io.Writer
	m   *Metrics
	buf []byte // a line not yet ended
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i+1]
		_, _ = w.log.Write(line)
		w.m.add(line)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<20 { // a runaway line: keep it, uncounted
		_, _ = w.log.Write(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// add adds the counts of an EMF line to m; other lines are ignored.
func (m *Metrics) add(line []byte) {
	if !bytes.Contains(line, []byte(`"_aws"`)) {
		return
	}
	var doc struct {
		AWS             json.RawMessage `json:"_aws"`
		Contended       int64
		Skipped         int64
		FailedRecords   int64
		ReleaseFailures int64
		Duplicates      int64
	}
	if json.Unmarshal(line, &doc) != nil || doc.AWS == nil {
		return
	}
	m.Contended.Add(doc.Contended)
	m.Skipped.Add(doc.Skipped)
	m.FailedRecords.Add(doc.FailedRecords)
	m.ReleaseFailures.Add(doc.ReleaseFailures)
	m.Duplicates.Add(doc.Duplicates)
}
