package rollup_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

// newJob returns a job over a new table holding three accounts (6000 cents
// in all) and a SKU, which the sum must leave out.
func newJob(t *testing.T) *rollup.Job {
	t.Helper()
	ctx := context.Background()
	name := dynamotest.TableName(t)
	db := srv.Client()
	if _, err := db.CreateTable(ctx, appdata.CreateTableInput(name)); err != nil {
		t.Fatal(err)
	}
	acc := &accounts.Store{DB: db, Table: name}
	for id, bal := range map[string]int64{"a": 1000, "b": 2000, "c": 3000} {
		if err := acc.Open(ctx, id, bal); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&stock.Store{DB: db, Table: name}).Put(ctx, "MUG", 99); err != nil {
		t.Fatal(err)
	}
	return &rollup.Job{DB: db, Table: name}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	j := newJob(t)
	for i, run := range []string{"r1", "r2"} {
		sum, err := j.Run(ctx, run, int64(10+i))
		if err != nil {
			t.Fatal(err)
		}
		if want := (rollup.Summary{RunID: run, Accounts: 3, Total: 6000}); sum != want {
			t.Errorf("Run(%s) = %+v, want %+v", run, sum, want)
		}
	}
	st, err := j.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (rollup.State{Runs: 2, Completed: 2, Accounts: 3, Total: 6000, RunID: "r2", Token: 11}); st != want {
		t.Errorf("state = %+v, want %+v", st, want)
	}
}

// A run that another run starts during finds it and writes no result.
func TestRunDetectsOverlap(t *testing.T) {
	ctx := context.Background()
	j := newJob(t)
	// The first run's DB holds back its second write (the result) until
	// the second run has completed.
	gated := &gatedDB{API: j.DB, started: make(chan struct{}), resume: make(chan struct{})}
	first := &rollup.Job{DB: gated, Table: j.Table}
	done := make(chan error, 1)
	go func() {
		_, err := first.Run(ctx, "first", 0)
		done <- err
	}()
	<-gated.started
	if _, err := j.Run(ctx, "second", 0); err != nil {
		t.Fatal(err)
	}
	close(gated.resume)
	if err := <-done; !errors.Is(err, rollup.ErrOverlap) {
		t.Fatalf("first run: err = %v, want rollup.ErrOverlap", err)
	}
	st, err := j.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 2 || st.Completed != 1 || st.Overlaps != 1 || st.RunID != "second" {
		t.Errorf("state = %+v, want 2 runs, 1 completed, 1 overlap, last run second", st)
	}
}

func TestRunRefusesStaleToken(t *testing.T) {
	ctx := context.Background()
	j := newJob(t)
	if _, err := j.Run(ctx, "new", 8); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Run(ctx, "stale", 7); !errors.Is(err, appdata.ErrStaleToken) {
		t.Fatalf("run with an older token: err = %v, want appdata.ErrStaleToken", err)
	}
	st, err := j.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 1 || st.RunID != "new" {
		t.Errorf("state = %+v, want only the newer run's writes", st)
	}
}

// gatedDB passes every request to the real DynamoDB Local, but holds the
// second UpdateItem back until resume is closed, closing started when it
// does.
type gatedDB struct {
	rollup.API
	updates int
	started chan struct{}
	resume  chan struct{}
}

func (g *gatedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	g.updates++
	if g.updates == 2 {
		close(g.started)
		<-g.resume
	}
	return g.API.UpdateItem(ctx, in, opts...)
}

// Outside Lambda, a run is named after the scheduled event's ID.
func TestHandler(t *testing.T) {
	ctx := context.Background()
	h := &rollup.Handler{Job: newJob(t)}
	sum, err := h.Handle(ctx, events.EventBridgeEvent{ID: "evt-1", DetailType: "Scheduled Event"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (rollup.Summary{RunID: "evt-1", Accounts: 3, Total: 6000}); sum != want {
		t.Errorf("Handle() = %+v, want %+v", sum, want)
	}
}
