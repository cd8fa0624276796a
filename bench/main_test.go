package bench_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/bench"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

var (
	srv    *dynamotest.Server
	warmup = flag.Duration("warmup", 8*time.Second, "how long to warm DynamoDB Local up before the benchmarks (its JIT makes the first run slower)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(dynamotest.EnvEndpoint) == "" && os.Getenv(dynamotest.EnvJar) == "" {
		// dynamotest looks for the jar above the nearest go.mod, which is
		// this module's; point it at the library's.
		root, err := bench.RepoRoot(".")
		if err == nil {
			var jar string
			if jar, err = bench.LocalJar(root); err == nil {
				err = os.Setenv(dynamotest.EnvJar, jar)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	var setup []func(*dynamotest.Server) error
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" && *warmup > 0 {
		setup = append(setup, warmUp)
	}
	dynamotest.Main(m, &srv, setup...)
}

// newDB returns a DynamoDB client for the server whose requests the
// returned counter counts. Its connection pool keeps up to 64 idle
// connections, so that 32 workers do not measure TCP handshakes.
func newDB(s *dynamotest.Server) (*dynamodb.Client, *httpfault.Client) {
	counter := &httpfault.Client{Next: newHTTPClient()}
	return s.Client(func(o *dynamodb.Options) { o.HTTPClient = counter }), counter
}

// newHTTPClient returns the SDK's HTTP client keeping up to 64 idle
// connections to a host.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 64 })
}

// lockTable creates a DynaLock table named after tb.
func lockTable(tb testing.TB, db *dynamodb.Client) string {
	tb.Helper()
	name := dynamotest.TableName(tb)
	if err := admin.CreateTable(context.Background(), db, name); err != nil {
		tb.Fatal(err)
	}
	return name
}

// newClient returns a lock client of table over db, with the rest of cfg
// (owner, TTL, metadata); its zero value is the lock's defaults.
func newClient(db lock.DynamoDBAPI, table string, cfg lock.Config) (*lock.Client, error) {
	cfg.TableName, cfg.DynamoDB = table, db
	return lock.NewClient(context.Background(), cfg)
}

// warmUp runs every implementation's cycle, and a critical section with
// Lease.Complete, on 8 workers for the warm-up time, so that DynamoDB
// Local's JIT has compiled their request paths.
func warmUp(s *dynamotest.Server) error {
	ctx := context.Background()
	db, _ := newDB(s)
	name := "warmup-" + strconv.Itoa(os.Getpid())
	if err := admin.CreateTable(ctx, db, name); err != nil {
		return err
	}
	if err := createPeerTable(ctx, db, name+"-peer"); err != nil {
		return err
	}
	if err := createAppTable(ctx, db, name+"-app"); err != nil {
		return err
	}
	// Each implementation's cycle, and the critical section with
	// Lease.Complete, whose transactions take another path in DynamoDB Local.
	warmed := append(slices.Clone(implNames), csWrite)
	per := *warmup / time.Duration(len(warmed))
	for _, impl := range warmed {
		cycles := make([]cycleFunc, 8)
		for w := range cycles {
			var err error
			table := name
			if impl == implPeer {
				table = name + "-peer"
			}
			id := fmt.Sprintf("warm-%s-%d", impl, w)
			if impl == csWrite {
				cycles[w], err = newCriticalSection(impl, db, name, name+"-peer", name+"-app", id)
			} else {
				cycles[w], err = newCycle(ctx, impl, db, table, id)
			}
			if err != nil {
				return err
			}
		}
		stop := time.Now().Add(per)
		var wg sync.WaitGroup
		errs := make([]error, len(cycles))
		for w, cycle := range cycles {
			wg.Go(func() {
				for time.Now().Before(stop) && errs[w] == nil {
					errs[w] = cycle(ctx)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("warm-up %s: %w", impl, err)
			}
		}
	}
	return nil
}

// quantile returns the q-quantile of ds (nearest rank); ds is sorted in
// place.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// ms is d in milliseconds, for ReportMetric.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
