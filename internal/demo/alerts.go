package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// AlertThreshold is low-stock-alerts' LOW_STOCK_THRESHOLD in the demo.
// The SKUs start with InitialStock units, far more than the load orders
// (no order may be refused), so the threshold sits just below it: the
// load takes the SKUs that sell most below it, and the others stay above.
const AlertThreshold = InitialStock - 25

// ThresholdFor returns a LOW_STOCK_THRESHOLD for a load of l's orders:
// three quarters of the way down from InitialStock by the units of the
// second most ordered SKU, so that the two SKUs that sell most end below
// it and the others above (AlertThreshold for the full load).
func ThresholdFor(l *Ledger) int64 {
	var units []int64
	for _, orders := range l.Orders {
		var n int64
		for _, q := range orders {
			n += q
		}
		units = append(units, n)
	}
	slices.Sort(units)
	second := int64(0)
	if len(units) >= 2 {
		second = units[len(units)-2]
	}
	return InitialStock - max((3*second+3)/4, 1)
}

// AlertsResult is what low-stock-alerts did with a phase's stream.
type AlertsResult struct {
	Stream StreamResult
	// Metrics are the function's EMF sums: Contended counts the SKU locks
	// it found held.
	Metrics MetricCounts
	// Threshold is the function's LOW_STOCK_THRESHOLD.
	Threshold int64
	// Alerts are the alert items in the application table, by SKU.
	Alerts []stock.Alert
}

// AlertsRun is low-stock-alerts consuming an application table's stream
// while a phase writes to the table.
type AlertsRun struct {
	f         *Function
	db        *dynamodb.Client
	table     string
	threshold int64
	drain     chan struct{} // closed by Finish: the phase's writes are over
	done      chan struct{} // closed when the delivery has returned
	cancel    context.CancelFunc
	res       StreamResult // set before done is closed
	err       error        // set before done is closed
}

// StartAlerts starts one low-stock-alerts environment against appTable
// (one: Lambda runs one batch per shard at a time, and DynamoDB Local's
// stream has one shard) and DeliverStream from the table's stream to it,
// filtered to SKU items as the stack's event source is, until Finish. Its
// threshold is AlertThreshold.
func (s *Stack) StartAlerts(ctx context.Context, appTable string) (*AlertsRun, error) {
	return s.StartAlertsAt(ctx, appTable, AlertThreshold)
}

// StartAlertsAt is StartAlerts with LOW_STOCK_THRESHOLD threshold.
func (s *Stack) StartAlertsAt(ctx context.Context, appTable string, threshold int64) (*AlertsRun, error) {
	arn, err := s.StreamARN(ctx, appTable)
	if err != nil {
		return nil, err
	}
	f, err := s.Start(ctx, LowStockAlerts, appTable, 1, map[string]string{"LOW_STOCK_THRESHOLD": strconv.FormatInt(threshold, 10)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &AlertsRun{f: f, db: s.Client(), table: appTable, threshold: threshold, drain: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	streams := s.StreamsClient()
	go func() {
		defer close(a.done)
		a.res, a.err = DeliverStream(ctx, f, streams, arn, skuRecord, a.drain)
	}()
	return a, nil
}

// Finish tells the delivery that the phase's writes are over, waits until
// it has delivered the rest of the stream, stops the function and reads
// the alerts it left.
func (a *AlertsRun) Finish(ctx context.Context) (AlertsResult, error) {
	close(a.drain)
	<-a.done
	a.cancel()
	a.f.Stop() // flushes its metrics
	m := a.f.Metrics()
	res := AlertsResult{Stream: a.res, Threshold: a.threshold,
		Metrics: MetricCounts{m.Contended.Load(), m.Skipped.Load(), m.FailedRecords.Load(), m.ReleaseFailures.Load()}}
	if a.err != nil {
		return res, a.err
	}
	var err error
	res.Alerts, err = ReadAlerts(ctx, a.db, a.table)
	return res, err
}

// skuRecord is the example stack's filter on low-stock-alerts' event
// source: records of SKU items only.
func skuRecord(r events.DynamoDBEventRecord) bool {
	id := r.Change.Keys[appdata.PartitionKey]
	return id.DataType() == events.DataTypeString && strings.HasPrefix(id.String(), stock.ID(""))
}

// ReadAlerts returns every alert item in the application table, sorted by
// SKU: a scan finds them, stock.Store.Alert reads each.
func ReadAlerts(ctx context.Context, db *dynamodb.Client, table string) ([]stock.Alert, error) {
	st := &stock.Store{DB: db, Table: table}
	prefix := stock.AlertID("")
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#id, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#id": appdata.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": appdata.S(prefix)},
		ProjectionExpression:      aws.String("#id"),
	}
	var out []stock.Alert
	for p := dynamodb.NewScanPaginator(db, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("demo: scan %s for alerts: %w", table, err)
		}
		for _, item := range page.Items {
			id, _ := item[appdata.PartitionKey].(*types.AttributeValueMemberS)
			if id == nil {
				return nil, fmt.Errorf("demo: %s: an alert item without a string %s", table, appdata.PartitionKey)
			}
			al, err := st.Alert(ctx, strings.TrimPrefix(id.Value, prefix))
			if err != nil {
				return nil, err
			}
			out = append(out, al)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out, nil
}

// StockChange returns the DynamoDB Streams record (view type
// NEW_AND_OLD_IMAGES) of sku's item going from Available before to after,
// with sequence number seq, as Lambda's poller would deliver it.
func StockChange(seq int, sku string, before, after int64) events.DynamoDBEventRecord {
	image := func(n int64) map[string]events.DynamoDBAttributeValue {
		return map[string]events.DynamoDBAttributeValue{
			appdata.PartitionKey: events.NewStringAttribute(stock.ID(sku)),
			"Available":          events.NewNumberAttribute(strconv.FormatInt(n, 10)),
		}
	}
	return events.DynamoDBEventRecord{
		EventID:        fmt.Sprintf("demo-%d", seq),
		EventName:      string(events.DynamoDBOperationTypeModify),
		EventVersion:   "1.1",
		EventSource:    "aws:dynamodb",
		AWSRegion:      "us-east-1",
		EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/demo/stream/2026-11-25T00:00:00.000",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{appdata.PartitionKey: events.NewStringAttribute(stock.ID(sku))},
			NewImage:       image(after),
			OldImage:       image(before),
			SequenceNumber: fmt.Sprintf("112%020d", seq),
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

// streamSKUs returns the SKUs whose items the records of e changed, in
// order of first appearance.
func streamSKUs(e events.DynamoDBEvent) []string {
	var skus []string
	seen := map[string]bool{}
	for _, r := range e.Records {
		if !skuRecord(r) {
			continue
		}
		sku := strings.TrimPrefix(r.Change.Keys[appdata.PartitionKey].String(), stock.ID(""))
		if !seen[sku] {
			seen[sku] = true
			skus = append(skus, sku)
		}
	}
	return skus
}

// printAlerts writes the alert items of skus, for make invoke.
func printAlerts(ctx context.Context, w io.Writer, db *dynamodb.Client, table string, skus []string) error {
	st := &stock.Store{DB: db, Table: table}
	for _, sku := range skus {
		al, err := st.Alert(ctx, sku)
		switch {
		case errors.Is(err, appdata.ErrNotFound):
			fmt.Fprintf(w, "alert %s: none\n", sku)
		case err != nil:
			return err
		default:
			fmt.Fprintf(w, "alert %s: %s, raised %s; Available %d at its last change (event %s)\n",
				sku, al.Status, count(al.Raised, "time", "times"), al.Available, al.EventID)
		}
	}
	return nil
}
