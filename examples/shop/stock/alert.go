package stock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// DefaultAlertThreshold is the low-stock-alerts function's threshold when
// none is configured: an alert is raised when a SKU's Available falls
// below it.
const DefaultAlertThreshold = 5

// Attribute names of a SKU's alert item.
const (
	attrAlertSKU       = "Sku"       // S: the SKU
	attrAlertStatus    = "Status"    // S: AlertOpen or AlertCleared
	attrAlertAvailable = "Available" // N: Available when last changed
	attrAlertRaised    = "Raised"    // N: how many alerts were raised
	attrAlertEvent     = "EventId"   // S: the stream record that last changed it
)

// The Status values of an alert item.
const (
	AlertOpen    = "open"
	AlertCleared = "cleared"
)

// AlertID returns the application table ID of sku's alert item.
func AlertID(sku string) string { return "alert#" + sku }

// Alert is a SKU's low-stock alert as stored.
type Alert struct {
	SKU    string
	Status string // AlertOpen or AlertCleared
	// Available is the SKU's Available when the alert last changed.
	Available int64
	// Raised counts the alerts raised for the SKU: an open alert is
	// never raised again, so a low SKU has one alert at a time however
	// often its item changes.
	Raised int64
	// EventID is the stream record that last changed the alert.
	EventID string
}

// AlertResult is what Alerter.Record did with a stream record.
type AlertResult int

// The outcomes of Alerter.Record.
const (
	// Ignored means the record is not of a SKU item (an account, an
	// alert) and was left alone.
	Ignored AlertResult = iota + 1
	// Raised means the SKU fell below the threshold and an alert was
	// opened.
	Raised
	// StillOpen means the SKU is low and its alert was open already.
	StillOpen
	// Cleared means the SKU is back at or above the threshold (or was
	// removed) and its open alert was cleared.
	Cleared
	// NoAlert means the SKU is not low and had no open alert.
	NoAlert
)

// String returns the result's name.
func (r AlertResult) String() string {
	switch r {
	case Ignored:
		return "ignored"
	case Raised:
		return "raised"
	case StillOpen:
		return "still open"
	case Cleared:
		return "cleared"
	case NoAlert:
		return "no alert"
	}
	return fmt.Sprintf("AlertResult(%d)", int(r))
}

// AlertKey is the low-stock-alerts function's lock key: the SKU of the
// item a stream record changed (SKUKeys), so that under LockNamespace its
// lock is "sku/<sku>", the one reserve-stock takes: an alert is never
// decided while the SKU is being reserved. A record of any other item (an
// account, an alert) has no key: wrap with middleware.WithRunUnkeyed so
// that Alerter.Record sees it and ignores it.
func AlertKey() middleware.Key[events.DynamoDBEventRecord] {
	return middleware.KeyFunc("the SKU of Keys."+appdata.PartitionKey, SKUKeys)
}

// SKUKeys returns the SKU of the item a stream record changed: its key
// "sku#<sku>" without the prefix. A record of any other item fails with an
// error matching middleware.ErrNoKey.
func SKUKeys(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
	id := r.Change.Keys[appdata.PartitionKey]
	if id.DataType() != events.DataTypeString {
		return nil, fmt.Errorf("%w: Keys.%s is not a string", middleware.ErrNoKey, appdata.PartitionKey)
	}
	sku, ok := strings.CutPrefix(id.String(), ID(""))
	if !ok || sku == "" {
		return nil, fmt.Errorf("%w: Keys.%s %q is not a SKU item", middleware.ErrNoKey, appdata.PartitionKey, id.String())
	}
	return []string{sku}, nil
}

// Alerter is the low-stock-alerts function's record handler, for
// middleware.WrapDynamoDBStream over the application table's stream
// (view type NEW_AND_OLD_IMAGES) keyed by AlertKey.
type Alerter struct {
	// Store is where stock and alerts are kept.
	Store *Store
	// Threshold is the level below which a SKU's Available raises an
	// alert; zero or less means DefaultAlertThreshold.
	Threshold int64
	// Log, if not nil, receives one line per alert raised or cleared.
	Log *slog.Logger
}

// Record decides a SKU's alert from one stream record: the SKU's
// Available in the record's NewImage below the threshold opens an alert
// unless one is open; at or above it (or a REMOVE) clears an open alert.
// The alert is read and written under the SKU's lease in ctx (the write
// with lock.Lease.Write, checked against the lease), so one SKU has one
// alert at a time; without a lease (locking disabled) it writes
// unguarded. A redelivered record finds the alert it wrote and changes
// nothing. Records of other items are Ignored. An error fails the record:
// the stream retries from it.
func (a *Alerter) Record(ctx context.Context, r events.DynamoDBEventRecord) (AlertResult, error) {
	id := r.Change.Keys[appdata.PartitionKey]
	if id.DataType() != events.DataTypeString {
		return Ignored, nil
	}
	sku, ok := strings.CutPrefix(id.String(), ID(""))
	if !ok || sku == "" {
		return Ignored, nil
	}
	low := false
	var available int64
	if r.EventName != string(events.DynamoDBOperationTypeRemove) {
		v, ok := r.Change.NewImage[attrAvailable]
		if !ok || v.DataType() != events.DataTypeNumber {
			return 0, fmt.Errorf("stock: alert %s: record %s has no NewImage number %s (stream view type %q, want NEW_AND_OLD_IMAGES)",
				sku, r.EventID, attrAvailable, r.Change.StreamViewType)
		}
		n, err := strconv.ParseInt(v.Number(), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stock: alert %s: %s: %w", sku, attrAvailable, err)
		}
		available, low = n, n < a.threshold()
	}
	cur, err := a.Store.Alert(ctx, sku)
	if err != nil && !errors.Is(err, appdata.ErrNotFound) {
		return 0, err
	}
	open := cur.Status == AlertOpen
	res := NoAlert
	switch {
	case low && open:
		return StillOpen, nil
	case !low && !open:
		return NoAlert, nil
	case low:
		res, cur.Status, cur.Raised = Raised, AlertOpen, cur.Raised+1
	default:
		res, cur.Status = Cleared, AlertCleared
	}
	cur.SKU, cur.Available, cur.EventID = sku, available, r.EventID
	if err := a.Store.putAlert(ctx, cur); err != nil {
		return 0, err
	}
	a.log().InfoContext(ctx, "low-stock alert "+res.String(), "sku", sku, "available", available,
		"threshold", a.threshold(), "raised", cur.Raised, "eventId", r.EventID)
	return res, nil
}

// Handle is Record for middleware.WrapDynamoDBStream, which needs only
// the error.
func (a *Alerter) Handle(ctx context.Context, r events.DynamoDBEventRecord) error {
	_, err := a.Record(ctx, r)
	return err
}

func (a *Alerter) threshold() int64 {
	if a.Threshold <= 0 {
		return DefaultAlertThreshold
	}
	return a.Threshold
}

func (a *Alerter) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Alert reads sku's alert, strongly consistently. It returns an error
// matching appdata.ErrNotFound if the SKU never had one.
func (s *Store) Alert(ctx context.Context, sku string) (Alert, error) {
	d, found, err := appdata.Read(ctx, s.DB, s.Table, AlertID(sku))
	if err != nil {
		return Alert{}, fmt.Errorf("stock: get alert %s: %w", sku, err)
	}
	if !found {
		return Alert{}, fmt.Errorf("stock: alert of SKU %q: %w", sku, appdata.ErrNotFound)
	}
	al := Alert{
		SKU:       d.String(attrAlertSKU),
		Status:    d.String(attrAlertStatus),
		Available: d.Int(attrAlertAvailable),
		Raised:    d.Int(attrAlertRaised),
		EventID:   d.String(attrAlertEvent),
	}
	if d.Err != nil {
		return Alert{}, fmt.Errorf("stock: decode alert %s: %w", sku, d.Err)
	}
	return al, nil
}

// putAlert writes al under the lease in ctx (lock.Lease.Write: only while
// the lease holds the SKU's lock), or unguarded with PutItem when ctx
// carries none.
func (s *Store) putAlert(ctx context.Context, al Alert) error {
	put := &types.Put{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			appdata.PartitionKey: appdata.S(AlertID(al.SKU)),
			attrAlertSKU:         appdata.S(al.SKU),
			attrAlertStatus:      appdata.S(al.Status),
			attrAlertAvailable:   appdata.N(al.Available),
			attrAlertRaised:      appdata.N(al.Raised),
			attrAlertEvent:       appdata.S(al.EventID),
		},
	}
	var err error
	if lease, ok := lock.FromContext(ctx); ok {
		err = lease.Write(ctx, types.TransactWriteItem{Put: put})
	} else {
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item})
	}
	if err != nil {
		return fmt.Errorf("stock: %s alert %s: %w", al.Status, al.SKU, err)
	}
	return nil
}
