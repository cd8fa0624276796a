package rollup

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/lock"
)

// Handler is the nightly-rollup function's handler, for middleware.Wrap
// with one constant key and the Skip policy.
type Handler struct {
	// Job is the job run.
	Job *Job
	// Log, if not nil, receives one line per run.
	Log *slog.Logger
}

// Handle runs the job once for a scheduled event, as a run named after the
// Lambda request ID (the event's id outside Lambda). It fences its writes
// with the token of the lease in ctx and writes unfenced when ctx carries
// none, as when locking is disabled. A run skipped by the middleware
// returns the zero Summary.
func (h *Handler) Handle(ctx context.Context, e events.EventBridgeEvent) (Summary, error) {
	runID := e.ID
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		runID = lc.AwsRequestID
	}
	var token int64
	if l, ok := lock.FromContext(ctx); ok {
		token = l.FencingToken()
	}
	sum, err := h.Job.Run(ctx, runID, token)
	if err != nil {
		return Summary{}, err
	}
	h.log().InfoContext(ctx, "rollup done", "runId", runID, "accounts", sum.Accounts, "total", sum.Total, "fencingToken", token)
	return sum, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
