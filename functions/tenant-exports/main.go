// Command tenant-exports is an SQS Lambda function that runs one export
// job per message, at most TENANT_PERMITS (3) of one tenant at a time
// across every concurrent invocation: a per-tenant concurrency limit,
// which Lambda's reserved concurrency and SQS maximum concurrency (per
// function, per queue) cannot express. Each job holds one of its tenant's
// permits (middleware.WithPermits); a message whose tenant has every
// permit taken fails as a batch item failure and comes back in about a
// second (middleware.WithVisibilityBackoff), at most once a holder's
// lease can have ended, rather than after the queue's visibility timeout.
//
// The message body is {"tenantId": "...", "exportId": "..."}. The job
// works WORK_DELAY, then records the export in APP_TABLE (key
// "export#<tenant>#<export>": when it started and finished, the permit's
// fencing token, and how many times it ran) in one transaction checked
// against its permit (lease.Write), so a job whose permit lapsed writes
// nothing. The demo reads these records back to show that no more than
// TENANT_PERMITS exports of one tenant ever overlapped.
//
// Environment: LOCK_TABLE, APP_TABLE; optional TENANT_PERMITS,
// DYNALOCK_DISABLED, LOG_LEVEL, WORK_DELAY (see env.go), and the AWS SDK's
// own (AWS_REGION; AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS
// point it at local stand-ins).
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/examples/shop/appdata"
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
		middleware.WithOnHeld(middleware.Fail), // the record fails, and comes back:
		// in about a second, growing with its receive count, at most once
		// a holder's lease can have ended.
		middleware.WithVisibilityBackoff(sqs.NewFromConfig(awsCfg)),
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

// Attributes of an export record.
const (
	attrTenant   = "tenant"
	attrStarted  = "started"  // when the job began, holding its permit (RFC 3339)
	attrFinished = "finished" // when its work ended
	attrToken    = "token"    // the permit's fencing token
	attrRuns     = "runs"     // how many times the job ran to its record
)

// exportID returns the application table key of a tenant's export.
func exportID(tenant, export string) string { return "export#" + tenant + "#" + export }

// run works, then records the export under the permit's lease.
func (j *job) run(ctx context.Context, m events.SQSMessage) error {
	started := time.Now().UTC()
	var r request
	if err := json.Unmarshal([]byte(m.Body), &r); err != nil || r.ExportID == "" {
		return fmt.Errorf("message %s: want {\"tenantId\", \"exportId\"}: %v", m.MessageId, err)
	}
	select {
	case <-time.After(j.work):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	names := map[string]string{"#tenant": attrTenant, "#started": attrStarted, "#finished": attrFinished, "#runs": attrRuns}
	values := map[string]types.AttributeValue{
		":tenant":   &types.AttributeValueMemberS{Value: r.TenantID},
		":started":  &types.AttributeValueMemberS{Value: started.Format(time.RFC3339Nano)},
		":finished": &types.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339Nano)},
		":one":      &types.AttributeValueMemberN{Value: "1"},
	}
	set := "SET #tenant = :tenant, #started = :started, #finished = :finished"
	lease, ok := lock.FromContext(ctx)
	if ok {
		names["#token"] = attrToken
		values[":token"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(lease.FencingToken(), 10)}
		set += ", #token = :token"
	}
	update := types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(j.table),
		Key:                       map[string]types.AttributeValue{appdata.PartitionKey: &types.AttributeValueMemberS{Value: exportID(r.TenantID, r.ExportID)}},
		UpdateExpression:          aws.String(set + " ADD #runs :one"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
	if !ok { // DYNALOCK_DISABLED: no permits, no lease
		_, err := j.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{update}})
		return err
	}
	return lease.Write(ctx, update)
}
