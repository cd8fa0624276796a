package rollup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/appdata"
)

// ID is the application table ID of the rollup item.
const ID = "rollup#nightly"

// Attribute names of the rollup item.
const (
	attrRunID     = "RunId"     // S: the run that started last
	attrStartedAt = "StartedAt" // N: epoch ms of that start
	attrRuns      = "Runs"      // N: runs started
	attrCompleted = "Completed" // N: runs completed
	attrOverlaps  = "Overlaps"  // N: runs that found another run started during theirs
	attrTotal     = "Total"     // N: sum of the balances, cents
	attrAccounts  = "Accounts"  // N: accounts summed
	attrDoneAt    = "CompletedAt"
)

// ErrOverlap means another run started while this one ran: the singleton
// was not single. The run's result is not written.
var ErrOverlap = errors.New("rollup: another run started during this one")

// API is the part of *dynamodb.Client that a Job uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Job sums the balances of the accounts in the application table.
type Job struct {
	// DB is the DynamoDB client.
	DB API
	// Table is the application table's name.
	Table string
	// Think is simulated work between the sum and its write (see
	// appdata.Think); zero outside the demo.
	Think time.Duration
}

// Summary is what one run computed.
type Summary struct {
	RunID    string `json:"runId"`
	Accounts int64  `json:"accounts"`
	Total    int64  `json:"total"`
}

// State is the rollup item.
type State struct {
	Runs      int64
	Completed int64
	Overlaps  int64
	Accounts  int64
	Total     int64
	RunID     string
	Token     int64
}

// Run runs the job once as run runID: it marks the rollup item as started
// by runID, sums the accounts' balances, and writes the sum only if no
// other run started meanwhile; if one did, it counts an overlap and
// returns an error matching ErrOverlap.
//
// token is the fencing token of the job's lease; both writes carry it and
// fail with an error matching appdata.ErrStaleToken if a newer lease's
// holder wrote first. Token 0 means no lock is held: runs may then overlap.
func (j *Job) Run(ctx context.Context, runID string, token int64) (Summary, error) {
	if runID == "" {
		return Summary{}, errors.New("rollup: empty run ID")
	}
	start := update{names: map[string]string{"#run": attrRunID, "#at": attrStartedAt, "#runs": attrRuns},
		values: map[string]types.AttributeValue{":run": appdata.S(runID), ":now": appdata.N(time.Now().UnixMilli()), ":one": appdata.N(1)},
		set:    []string{"#run = :run", "#at = :now"}, add: "#runs :one"}
	if _, err := j.DB.UpdateItem(ctx, start.input(j.Table, token, "")); err != nil {
		return Summary{}, j.writeError("start", runID, token, err)
	}
	sum, err := j.sum(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum.RunID = runID
	if err := appdata.Think(ctx, j.Think); err != nil {
		return Summary{}, fmt.Errorf("rollup: run %s: %w", runID, err)
	}
	done := update{names: map[string]string{"#run": attrRunID, "#total": attrTotal, "#n": attrAccounts, "#done": attrCompleted, "#at": attrDoneAt},
		values: map[string]types.AttributeValue{":run": appdata.S(runID), ":total": appdata.N(sum.Total), ":n": appdata.N(sum.Accounts),
			":one": appdata.N(1), ":now": appdata.N(time.Now().UnixMilli())},
		set: []string{"#total = :total", "#n = :n", "#at = :now"}, add: "#done :one"}
	in := done.input(j.Table, token, "#run = :run")
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	if _, err := j.DB.UpdateItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if cur, _ := appdata.String(ccf.Item, attrRunID); cur != runID {
				return Summary{}, j.overlap(ctx, runID, cur)
			}
		}
		return Summary{}, j.writeError("finish", runID, token, err)
	}
	return sum, nil
}

// overlap counts an overlap found by runID, which run other followed.
func (j *Job) overlap(ctx context.Context, runID, other string) error {
	_, err := j.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(j.Table),
		Key:                       appdata.Key(ID),
		UpdateExpression:          aws.String("ADD #o :one"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOverlaps},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": appdata.N(1)},
	})
	if err != nil {
		return fmt.Errorf("rollup: run %s: %w (run %s started since); counting it: %w", runID, ErrOverlap, other, err)
	}
	return fmt.Errorf("rollup: run %s: %w (run %s started since)", runID, ErrOverlap, other)
}

func (j *Job) writeError(step, runID string, token int64, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("rollup: run %s: %s with token %d: %w", runID, step, token, appdata.ErrStaleToken)
	}
	return fmt.Errorf("rollup: run %s: %s: %w", runID, step, err)
}

// sum adds up the balances of every account, reading strongly
// consistently.
func (j *Job) sum(ctx context.Context) (Summary, error) {
	var s Summary
	p := dynamodb.NewScanPaginator(j.DB, &dynamodb.ScanInput{
		TableName:                 aws.String(j.Table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#id, :prefix)"),
		ProjectionExpression:      aws.String("#bal"),
		ExpressionAttributeNames:  map[string]string{"#id": appdata.PartitionKey, "#bal": accounts.BalanceAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": appdata.S(accounts.IDPrefix)},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Summary{}, fmt.Errorf("rollup: scan accounts: %w", err)
		}
		for _, item := range page.Items {
			b, err := appdata.Int(item, accounts.BalanceAttribute)
			if err != nil {
				return Summary{}, fmt.Errorf("rollup: %w", err)
			}
			s.Total += b
			s.Accounts++
		}
	}
	return s, nil
}

// Get reads the rollup item, strongly consistently; the zero State if
// no run has started.
func (j *Job) Get(ctx context.Context) (State, error) {
	d, _, err := appdata.Read(ctx, j.DB, j.Table, ID)
	if err != nil {
		return State{}, fmt.Errorf("rollup: get: %w", err)
	}
	st := State{
		Runs:      d.Int(attrRuns),
		Completed: d.Int(attrCompleted),
		Overlaps:  d.Int(attrOverlaps),
		Accounts:  d.Int(attrAccounts),
		Total:     d.Int(attrTotal),
		RunID:     d.String(attrRunID),
		Token:     d.Int(appdata.TokenAttribute),
	}
	if d.Err != nil {
		return State{}, fmt.Errorf("rollup: decode: %w", d.Err)
	}
	return st, nil
}

// update is one UpdateItem on the rollup item.
type update struct {
	names  map[string]string
	values map[string]types.AttributeValue
	set    []string
	add    string
}

// input returns the request, fenced by token unless it is 0, with cond
// (if any) as a further condition.
func (u update) input(table string, token int64, cond string) *dynamodb.UpdateItemInput {
	names, values, set := maps.Clone(u.names), maps.Clone(u.values), u.set
	var conds []string
	if cond != "" {
		conds = append(conds, cond)
	}
	if token != 0 {
		fc, fn, fv := appdata.Fence(token)
		conds = append(conds, "("+fc+")")
		set = append(set[:len(set):len(set)], appdata.FenceSet)
		maps.Copy(names, fn)
		maps.Copy(values, fv)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       appdata.Key(ID),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + " ADD " + u.add),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	if len(conds) > 0 {
		in.ConditionExpression = aws.String(strings.Join(conds, " AND "))
	}
	return in
}
