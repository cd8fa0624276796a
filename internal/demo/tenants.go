package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
)

// Settings of the per-tenant limit scene (RunTenants).
const (
	// TenantPermits is tenant-exports' TENANT_PERMITS in the scene: its
	// default, and the stack's.
	TenantPermits = 3
	// tenantInstances is how many tenant-exports environments run: twice
	// the permits, so that without them one tenant's exports could run six
	// at once.
	tenantInstances = 6
	// exportWork is how long each export works (WORK_DELAY).
	exportWork = 400 * time.Millisecond
	// otherTenant is the second tenant, whose exports are sent after the
	// busy one's.
	otherTenant = "globex"
	// busyExports and otherExports are how many exports each tenant sends:
	// three times the permits for the busy one, the permits for the other.
	busyExports, otherExports = 3 * TenantPermits, TenantPermits
)

// TenantsQueue returns the scene's queue settings: those of the stack's
// exports queue (one export per invocation, maxReceiveCount 10), with
// the demo's visibility timeout.
func TenantsQueue() Queue {
	q := StackQueue()
	q.BatchSize = 1
	return q
}

// TenantRun is what became of the per-tenant limit scene.
type TenantRun struct {
	// Permits is TENANT_PERMITS; Instances the environments that ran.
	Permits, Instances int
	// Work is how long each export worked.
	Work  time.Duration
	Queue Queue
	// Sent are the tenants and how many exports each sent, in the order
	// sent.
	Sent []TenantSent
	// Delivery is what became of the messages.
	Delivery SQSResult
	// Exports are the export records read back from the application
	// table.
	Exports []ExportRecord
	// Dead are the exports (tenant#export) whose message was
	// dead-lettered: never acknowledged as processed.
	Dead map[string]bool
	// Contended counts the records that found their tenant's permits all
	// taken (the function's EMF Contended).
	Contended int64
	// Sent0 is when the messages were sent.
	Sent0    time.Time
	Duration time.Duration
}

// TenantSent is one tenant's share of the scene's messages.
type TenantSent struct {
	Tenant  string
	Exports int
}

// ExportRecord is one export's record, as tenant-exports writes it.
type ExportRecord struct {
	Tenant, Export    string
	Started, Finished time.Time
	// Runs is how many times the export ran to its record.
	Runs int64
}

// RunTenants shows tenant-exports' per-tenant limit (middleware.WithPermits):
// busyExports exports of the sample's tenant, then otherExports of
// another, one message each, delivered as the stack's queue does (one per
// invocation) to tenantInstances environments with TENANT_PERMITS
// permits, on tables of their own. A record whose tenant has every permit
// taken fails and comes back about a second later (the visibility
// backoff). The export records say when each export ran.
func (s *Stack) RunTenants(ctx context.Context, sample Sample[events.SQSEvent], permits, instances int, work time.Duration) (TenantRun, error) {
	run := TenantRun{Permits: permits, Instances: instances, Work: work, Queue: TenantsQueue(), Dead: map[string]bool{}}
	if len(sample.Event.Records) == 0 {
		return run, fmt.Errorf("demo: %s has no records", sample.File)
	}
	tmpl := sample.Event.Records[0]
	var first struct {
		TenantID string `json:"tenantId"`
	}
	if err := json.Unmarshal([]byte(tmpl.Body), &first); err != nil || first.TenantID == "" {
		return run, fmt.Errorf("demo: %s: record %s has no tenantId: %v", sample.File, tmpl.MessageId, err)
	}
	run.Sent = []TenantSent{{first.TenantID, busyExports}, {otherTenant, otherExports}}
	var batch events.SQSEvent
	byMessage := map[string]string{} // message ID → tenant#export
	for _, ts := range run.Sent {
		for i := 1; i <= ts.Exports; i++ {
			r := tmpl
			export := "e-" + strconv.Itoa(i)
			body, err := json.Marshal(map[string]string{"tenantId": ts.Tenant, "exportId": export})
			if err != nil {
				return run, fmt.Errorf("demo: %w", err)
			}
			r.Body = string(body)
			r.MessageId = "export-" + ts.Tenant + "-" + strconv.Itoa(i)
			r.ReceiptHandle = r.MessageId
			r.Attributes = map[string]string{"ApproximateReceiveCount": "1"}
			byMessage[r.MessageId] = ts.Tenant + "#" + export
			batch.Records = append(batch.Records, r)
		}
	}
	locks, err := s.NewLockTable(ctx, "tenants")
	if err != nil {
		return run, err
	}
	table := s.LockTable + "-app-tenants"
	if err := s.CreateAppTable(ctx, table); err != nil {
		return run, err
	}
	f, err := s.Start(ctx, TenantExports, table, instances, map[string]string{
		"LOCK_TABLE": locks, "WORK_DELAY": work.String(), "TENANT_PERMITS": strconv.Itoa(permits)})
	if err != nil {
		return run, err
	}
	defer f.Stop()
	run.Sent0 = time.Now()
	run.Delivery, err = DeliverSQS(ctx, f, []events.SQSEvent{batch}, run.Queue)
	run.Duration = time.Since(run.Sent0)
	if err != nil {
		return run, err
	}
	f.Stop() // its metrics are complete once its output is
	run.Contended = f.Metrics().Contended.Load()
	for _, id := range run.Delivery.DeadLettered {
		run.Dead[byMessage[id]] = true
	}
	run.Exports, err = ReadExports(ctx, s.Client(), table)
	return run, err
}

// ReadExports returns the export records of the application table named
// table, by tenant and export.
func ReadExports(ctx context.Context, db *dynamodb.Client, table string) ([]ExportRecord, error) {
	var out []ExportRecord
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#id, :export)"),
		ExpressionAttributeNames:  map[string]string{"#id": appdata.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":export": &types.AttributeValueMemberS{Value: "export#"}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("demo: scan %s for exports: %w", table, err)
		}
		for _, item := range page.Items {
			r, err := parseExport(item)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b ExportRecord) int {
		if a.Tenant != b.Tenant {
			return strings.Compare(a.Tenant, b.Tenant)
		}
		return a.Started.Compare(b.Started)
	})
	return out, nil
}

// parseExport reads an export record: key "export#<tenant>#<export>",
// tenant, started, finished (RFC 3339) and runs.
func parseExport(item map[string]types.AttributeValue) (ExportRecord, error) {
	d := appdata.Decoder{Item: item}
	key := d.String(appdata.PartitionKey)
	r := ExportRecord{Tenant: d.String("tenant"), Runs: d.Int("runs")}
	started, finished := d.String("started"), d.String("finished")
	if d.Err != nil {
		return r, fmt.Errorf("demo: export record %s: %w", key, d.Err)
	}
	export, ok := strings.CutPrefix(key, "export#"+r.Tenant+"#")
	r.Export = export
	var err1, err2 error
	r.Started, err1 = time.Parse(time.RFC3339Nano, started)
	r.Finished, err2 = time.Parse(time.RFC3339Nano, finished)
	if err1 != nil || err2 != nil || !ok {
		return r, fmt.Errorf("demo: export record %s: started %q, finished %q", key, started, finished)
	}
	return r, nil
}

// PeakOverlap returns the most of recs that ran at one instant, from
// their start and end times: an export that ended at the instant another
// started does not overlap it (a permit released, then taken).
func PeakOverlap(recs []ExportRecord) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(recs))
	for _, r := range recs {
		edges = append(edges, edge{r.Started, +1}, edge{r.Finished, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends first
	})
	peak, n := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
	}
	return peak
}

// TenantStats is one tenant's exports in the scene.
type TenantStats struct {
	Tenant string
	// Sent and Recorded count its exports; Twice those recorded with more
	// than one run; Dead those dead-lettered.
	Sent, Recorded, Twice, Dead int
	// Peak is the most of its exports that ran at once.
	Peak int
	// Done is when its last export finished, after the messages were sent.
	Done time.Duration
}

// Stats returns each tenant's figures, in the order sent.
func (t TenantRun) Stats() []TenantStats {
	var out []TenantStats
	for _, ts := range t.Sent {
		st := TenantStats{Tenant: ts.Tenant, Sent: ts.Exports}
		var recs []ExportRecord
		for _, r := range t.Exports {
			if r.Tenant != ts.Tenant {
				continue
			}
			recs = append(recs, r)
			st.Recorded++
			if r.Runs != 1 {
				st.Twice++
			}
			st.Done = max(st.Done, r.Finished.Sub(t.Sent0))
		}
		for id := range t.Dead {
			if strings.HasPrefix(id, ts.Tenant+"#") {
				st.Dead++
			}
		}
		st.Peak = PeakOverlap(recs)
		out = append(out, st)
	}
	return out
}
