// Command nightly-rollup is a scheduled Lambda function (an EventBridge
// schedule) that sums every account's balance into one rollup item. It is
// a singleton: each run holds the lock "job/nightly-rollup", and a run
// that finds it held is skipped.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY (see package fnenv).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/internal/rollup"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	env, err := fnenv.Setup(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	h := &rollup.Handler{
		Job: &rollup.Job{DB: env.DB, Table: env.AppTable, Think: env.WorkDelay},
		Log: env.Log,
	}
	lambda.Start(middleware.Wrap(env.Locks, middleware.Constant[events.EventBridgeEvent]("nightly-rollup"), h.Handle,
		env.Middleware(rollup.LockNamespace, middleware.OnHeld(middleware.Skip))...))
}
