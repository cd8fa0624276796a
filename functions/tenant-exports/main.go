// Command tenant-exports is an SQS Lambda function that runs one export
// job per message, at most TENANT_PERMITS (3) of one tenant at a time
// across every concurrent invocation: a per-tenant concurrency limit,
// which Lambda's reserved concurrency and SQS maximum concurrency (per
// function, per queue) cannot express. Each job holds one of its tenant's
// permits (middleware.WithPermits); a message whose tenant has every
// permit taken fails as a batch item failure and comes back later.
//
// The message body is {"tenantId": "...", "exportId": "..."}. The job
// works WORK_DELAY, then records the export in APP_TABLE (pk
// "export#<tenant>#<export>") with the permit's fencing token, in one
// transaction checked against its permit (lease.Write), so a job whose
// permit lapsed writes nothing.
//
// Environment: LOCK_TABLE, APP_TABLE; optional TENANT_PERMITS,
// DYNALOCK_DISABLED, LOG_LEVEL, WORK_DELAY (see env.go), and the AWS SDK's
// own (AWS_REGION; AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// lockNamespace is the namespace of the tenants' permits: every function
// that shares a tenant's export limit passes it, with the same count.
const lockNamespace = "tenant-exports"

func main() {
	ctx := context.Background()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatalf("tenant-exports: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("tenant-exports: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("tenant-exports: no AWS region: set AWS_REGION")
	}
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("tenant-exports: %v", err)
		}
	}
	j := &job{db: db, table: cfg.appTable, work: cfg.workDelay}
	handler, err := middleware.WrapSQS(locks, middleware.SQSBody("tenantId"), j.run,
		middleware.WithNamespace(lockNamespace),
		middleware.WithPermits(cfg.permits),
		middleware.WithOnHeld(middleware.Fail), // the record comes back after its visibility timeout
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout))
	if err != nil {
		log.Fatalf("tenant-exports: %v", err)
	}
	lambda.Start(handler)
}

// job runs one export.
type job struct {
	db    *dynamodb.Client
	table string
	work  time.Duration
}

// request is a message's body.
type request struct {
	TenantID string `json:"tenantId"`
	ExportID string `json:"exportId"`
}

// run works, then records the export under the permit's lease.
func (j *job) run(ctx context.Context, m events.SQSMessage) error {
	var r request
	if err := json.Unmarshal([]byte(m.Body), &r); err != nil || r.ExportID == "" {
		return fmt.Errorf("message %s: want {\"tenantId\", \"exportId\"}: %v", m.MessageId, err)
	}
	select {
	case <-time.After(j.work):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	put := types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(j.table),
		Item: map[string]types.AttributeValue{
			"pk":       &types.AttributeValueMemberS{Value: "export#" + r.TenantID + "#" + r.ExportID},
			"finished": &types.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339Nano)},
		},
	}}
	lease, ok := lock.FromContext(ctx)
	if !ok { // DYNALOCK_DISABLED: no permits, no lease
		_, err := j.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{put}})
		return err
	}
	put.Put.Item["token"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(lease.FencingToken(), 10)}
	return lease.Write(ctx, put)
}
