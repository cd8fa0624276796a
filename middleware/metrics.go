package middleware

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// emfNamespace is the CloudWatch namespace of the middleware's metrics.
const emfNamespace = "DynaLock"

// maxEMFValues is the most values one EMF metric may carry.
const maxEMFValues = 100

// emf writes Embedded Metric Format lines to one writer, one line at a
// time, for every invocation the wrapper serves.
type emf struct {
	mu       sync.Mutex // serialises writes to w
	w        io.Writer
	function string
}

func newEMF(w io.Writer) *emf {
	if w == nil {
		return nil
	}
	fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	if fn == "" {
		fn = "local"
	}
	return &emf{w: w, function: fn}
}

// stats gathers one invocation's metrics. Its methods are safe for
// concurrent use and do nothing on a nil *stats.
type stats struct {
	mu              sync.Mutex // protects the fields below
	acquireMillis   []float64
	contended       int
	skipped         int
	failedRecords   int
	releaseFailures int
	duplicates      int
	// WithVisibilityBackoff: records whose visibility was set, the delays
	// set (seconds), and records whose change failed.
	backedOffRecords   int
	backoffSeconds     []float64
	visibilityFailures int
}

func (s *stats) add(f func(*stats)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stats) acquired(d time.Duration) {
	s.add(func(s *stats) {
		if len(s.acquireMillis) < maxEMFValues {
			s.acquireMillis = append(s.acquireMillis, float64(d.Microseconds())/1000)
		}
	})
}

func (s *stats) contention()     { s.add(func(s *stats) { s.contended++ }) }
func (s *stats) skip()           { s.add(func(s *stats) { s.skipped++ }) }
func (s *stats) failed()         { s.add(func(s *stats) { s.failedRecords++ }) }
func (s *stats) releaseFailure() { s.add(func(s *stats) { s.releaseFailures++ }) }
func (s *stats) duplicate()      { s.add(func(s *stats) { s.duplicates++ }) }

// backedOff counts the records whose visibility was set to delays, and
// failed records whose change did not go through.
func (s *stats) backedOff(delays []time.Duration, failed int) {
	s.add(func(s *stats) {
		s.backedOffRecords += len(delays)
		s.visibilityFailures += failed
		for _, d := range delays {
			if len(s.backoffSeconds) < maxEMFValues {
				s.backoffSeconds = append(s.backoffSeconds, d.Seconds())
			}
		}
	})
}

// flush writes s as one EMF line. Write errors are ignored: metrics must
// not fail an invocation.
func (e *emf) flush(s *stats) {
	if e == nil || s == nil {
		return
	}
	s.mu.Lock()
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  emfNamespace,
				"Dimensions": [][]string{{"FunctionName"}},
				"Metrics": []any{
					map[string]string{"Name": "AcquireLatency", "Unit": "Milliseconds"},
					map[string]string{"Name": "Contended", "Unit": "Count"},
					map[string]string{"Name": "Skipped", "Unit": "Count"},
					map[string]string{"Name": "FailedRecords", "Unit": "Count"},
					map[string]string{"Name": "ReleaseFailures", "Unit": "Count"},
					map[string]string{"Name": "Duplicates", "Unit": "Count"},
					map[string]string{"Name": "BackedOff", "Unit": "Count"},
					map[string]string{"Name": "BackoffDelay", "Unit": "Seconds"},
					map[string]string{"Name": "VisibilityFailures", "Unit": "Count"},
				},
			}},
		},
		"FunctionName":       e.function,
		"Contended":          s.contended,
		"Skipped":            s.skipped,
		"FailedRecords":      s.failedRecords,
		"ReleaseFailures":    s.releaseFailures,
		"Duplicates":         s.duplicates,
		"BackedOff":          s.backedOffRecords,
		"VisibilityFailures": s.visibilityFailures,
	}
	if len(s.backoffSeconds) > 0 {
		doc["BackoffDelay"] = append([]float64(nil), s.backoffSeconds...)
	}
	if len(s.acquireMillis) > 0 {
		doc["AcquireLatency"] = append([]float64(nil), s.acquireMillis...)
	}
	s.mu.Unlock()
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(line, '\n'))
}
