package bench_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
)

// Interleaving: each implementation runs for a slice, all of them one
// after the other (a round, in rotating order), for a number of rounds.
// The machine is shared and its load changes from second to second, so a
// ratio is the median over the rounds of the ratio between one round's
// slices, not the ratio of two long runs.
const ratioSlice = 150 * time.Millisecond

var rounds = flag.Int("rounds", 20, "rounds of the interleaved benchmarks on loopback (with latency added: 3/5 of it, at least 1)")

// ratioRounds is the rounds on loopback; latencyRounds with latency
// added, whose rates vary less: the round trips dominate.
func ratioRounds() int   { return max(*rounds, 1) }
func latencyRounds() int { return max(*rounds*3/5, 1) }

// interleaved is the outcome of interleave.
type interleaved struct {
	done   map[string]int
	took   map[string]time.Duration
	rounds []map[string]float64 // each round's rate by implementation
}

// rate returns impl's cycles/s over all its slices.
func (r interleaved) rate(impl string) float64 { return float64(r.done[impl]) / r.took[impl].Seconds() }

// ratio returns the median over the rounds of a's rate over b's.
func (r interleaved) ratio(a, b string) float64 {
	rs := make([]float64, 0, len(r.rounds))
	for _, round := range r.rounds {
		rs = append(rs, round[a]/round[b])
	}
	slices.Sort(rs)
	if len(rs)%2 == 0 {
		return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
	}
	return rs[len(rs)/2]
}

// report reports each implementation's cycles/s and the ratios of pairs
// (numerator, denominator).
func (r interleaved) report(b *testing.B, names []string, pairs [][2]string) {
	for _, impl := range names {
		b.ReportMetric(r.rate(impl), impl+"-cycles/s")
	}
	for _, p := range pairs {
		b.ReportMetric(r.ratio(p[0], p[1]), p[0]+"/"+p[1])
	}
}

// interleave runs the implementations' cycles (one worker per cycle
// function) in turns of slice, rounds times.
func interleave(ctx context.Context, cycles map[string][]cycleFunc, names []string, rounds int, slice time.Duration) (interleaved, error) {
	r := interleaved{done: map[string]int{}, took: map[string]time.Duration{}}
	for t := range rounds {
		rate := make(map[string]float64, len(names))
		for k := range names {
			impl := names[(t+k)%len(names)]
			d, el, err := runSlice(ctx, cycles[impl], slice)
			if err != nil {
				return r, fmt.Errorf("%s: %w", impl, err)
			}
			r.done[impl] += d
			r.took[impl] += el
			rate[impl] = float64(d) / el.Seconds()
		}
		r.rounds = append(r.rounds, rate)
	}
	return r, nil
}

// cyclePairs are the ratios the cycle benchmarks report: DynaLock to both
// floors and to the peer, the peer to both floors, and the replay floor
// to the minimal one (the cost of DynaLock's request design alone).
var cyclePairs = [][2]string{
	{implDynaLock, implFloor}, {implDynaLock, implMinimal}, {implDynaLock, implPeer},
	{implPeer, implFloor}, {implPeer, implMinimal}, {implFloor, implMinimal},
}

// BenchmarkCycleRatio measures uncontended acquire + release cycles per
// second with 1, 8 and 32 workers on distinct IDs, for the replay floor,
// the minimal-design floor, DynaLock and the peer, interleaved. One op is
// the whole set of rounds; it reports each implementation's cycles/s and
// the ratios (medians of per-round ratios).
func BenchmarkCycleRatio(b *testing.B) {
	db, _ := newDB(srv)
	cycleRatios(b, db, ratioRounds())
}

// latencies are the fixed latencies that BenchmarkCycleLatency adds to
// every request: round trips to DynamoDB from within its region, where
// the count of requests in sequence decides the rate.
var latencies = []time.Duration{2 * time.Millisecond, 5 * time.Millisecond}

// BenchmarkCycleLatency is BenchmarkCycleRatio with 2 ms and then 5 ms
// added to every request (internal/httpfault holds each request back that
// long before sending it).
func BenchmarkCycleLatency(b *testing.B) {
	for _, d := range latencies {
		b.Run("delay="+delayName(d), func(b *testing.B) {
			db, _ := newDelayedDB(srv, d)
			cycleRatios(b, db, latencyRounds())
		})
	}
}

// cycleRatios runs the interleaved cycles of every implementation at each
// concurrency on db.
func cycleRatios(b *testing.B, db *dynamodb.Client, rounds int) {
	ctx := context.Background()
	table := lockTable(b, db)
	peerTable := table + "-peer"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	for _, n := range concurrencies {
		cycles := make(map[string][]cycleFunc)
		for _, impl := range implNames {
			t := table
			if impl == implPeer {
				t = peerTable
			}
			for w := range n {
				c, err := newCycle(ctx, impl, db, t, fmt.Sprintf("ratio-%s-%d-%d", impl, n, w))
				if err != nil {
					b.Fatal(err)
				}
				cycles[impl] = append(cycles[impl], c)
			}
		}
		b.Run("conc="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				r, err := interleave(ctx, cycles, implNames, rounds, ratioSlice)
				if err != nil {
					b.Fatal(err)
				}
				r.report(b, implNames, cyclePairs)
			}
		})
	}
}

// newDelayedDB is newDB with d added to every request.
func newDelayedDB(s *dynamotest.Server, d time.Duration) (*dynamodb.Client, *httpfault.Client) {
	if d == 0 {
		return newDB(s)
	}
	counter := &httpfault.Client{Next: newHTTPClient(), Rule: func(httpfault.Request) httpfault.Action { return httpfault.Action{Delay: d} }}
	return s.Client(func(o *dynamodb.Options) { o.HTTPClient = counter }), counter
}

// delayName names an added latency in whole milliseconds: "0ms", "5ms".
func delayName(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
