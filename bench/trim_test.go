package bench_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// trim is a change to DynaLock's requests that BenchmarkTrim measures: it
// returns changed copies of a captured acquire and release. Unused
// placeholders are pruned afterwards (DynamoDB refuses them).
type trim struct {
	name string
	// what the change drops, for the report
	desc   string
	change func(acquire, release *dynamodb.UpdateItemInput)
}

// trims are the changes measured, each alone, then all together.
var trims = []trim{
	{"updated-new", "acquire answers UPDATED_NEW instead of ALL_NEW", func(a, _ *dynamodb.UpdateItemInput) {
		a.ReturnValues = types.ReturnValueUpdatedNew
	}},
	{"no-remove", "no REMOVE clauses (acquire: absent holder details; release: audit fields)", func(a, r *dynamodb.UpdateItemInput) {
		for _, in := range []*dynamodb.UpdateItemInput{a, r} {
			expr, _, _ := strings.Cut(aws.ToString(in.UpdateExpression), " REMOVE ")
			in.UpdateExpression = aws.String(expr)
		}
	}},
	{"four-attrs", "acquire sets only lease, owner, token and end (not AcquiredAt, TTL, Host, RequestId)", func(a, _ *dynamodb.UpdateItemInput) {
		expr := aws.ToString(a.UpdateExpression)
		_, remove, _ := strings.Cut(expr, " REMOVE ")
		set := "SET #lease = :lease, #owner = :owner, #tok = if_not_exists(#tok, :seed) + :one, #exp = :exp"
		if remove != "" {
			set += " REMOVE " + remove
		}
		a.UpdateExpression = aws.String(set)
	}},
	{"no-version", "no lease version (acquire and extend store LeaseVersion, LeaseSeq and LeaseMs for the observed-lease takeover rule)", func(a, _ *dynamodb.UpdateItemInput) {
		a.UpdateExpression = aws.String(strings.Replace(aws.ToString(a.UpdateExpression), "#ver = :ver, #seq = :seq, #granted = :granted, ", "", 1))
		a.ConditionExpression = aws.String(strings.Replace(aws.ToString(a.ConditionExpression), " AND #seq = :seq", "", 1))
	}},
	{"short-condition", "acquire condition of three terms (no item; previous lease released; lease ended)", func(a, _ *dynamodb.UpdateItemInput) {
		a.ConditionExpression = aws.String("attribute_not_exists(#id) OR (#rel = #lease AND NOT (#lease = :lease)) OR #exp < :cutoff")
	}},
}

// trimNames are BenchmarkTrim's implementations: the replay floor, each
// trim, all trims together, and the minimal design.
func trimNames() []string {
	names := []string{implFloor}
	for _, t := range trims {
		names = append(names, t.name)
	}
	return append(names, "all-trims", implMinimal, minimalOnLockItem)
}

// minimalOnLockItem is the minimal design's cycle on an item that also
// holds the attributes a DynaLock cycle leaves (lease and released lease
// IDs, acquire time, TTL, host): what the minimal design costs when the
// item weighs what DynaLock's does. DynamoDB Local reads and rewrites the
// whole item on every update.
const minimalOnLockItem = "minimal-on-lock-item"

var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// prune drops the names and values that in's expressions do not use.
func prune(in *dynamodb.UpdateItemInput) {
	used := map[string]bool{}
	for _, e := range []string{aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression)} {
		for _, p := range placeholder.FindAllString(e, -1) {
			used[p] = true
		}
	}
	maps.DeleteFunc(in.ExpressionAttributeNames, func(k, _ string) bool { return !used[k] })
	maps.DeleteFunc(in.ExpressionAttributeValues, func(k string, _ types.AttributeValue) bool { return !used[k] })
}

// trimmed returns the floor f with changes applied.
func trimmed(f floor, changes ...trim) floor {
	a, r := *f.acquire, *f.release
	a.ExpressionAttributeNames, a.ExpressionAttributeValues = maps.Clone(a.ExpressionAttributeNames), maps.Clone(a.ExpressionAttributeValues)
	r.ExpressionAttributeNames, r.ExpressionAttributeValues = maps.Clone(r.ExpressionAttributeNames), maps.Clone(r.ExpressionAttributeValues)
	for _, c := range changes {
		c.change(&a, &r)
	}
	prune(&a)
	prune(&r)
	return floor{db: f.db, acquire: &a, release: &r}
}

// trimConcurrencies: one worker, where each request's own time counts,
// and 32, where DynamoDB Local's CPU is the limit.
var trimConcurrencies = []int{1, 32}

// BenchmarkTrim measures what trimming DynaLock's requests would gain:
// the replay floor (DynaLock's requests as they are, sent by the SDK
// alone) beside the same requests with one change each (trims), with all
// of them, the minimal design, and the minimal design on an item as heavy
// as DynaLock's, interleaved, uncontended, with 1 and
// 32 workers. It changes nothing in the lock; it tells what a change
// there is worth. One op is the whole set of rounds; it reports each
// one's cycles/s and its ratio to the replay floor.
func BenchmarkTrim(b *testing.B) {
	ctx := context.Background()
	db, _ := newDB(srv)
	table := lockTable(b, db)
	names := trimNames()
	for _, n := range trimConcurrencies {
		cycles := make(map[string][]cycleFunc)
		for w := range n {
			for _, name := range names {
				id := fmt.Sprintf("trim-%s-%d-%d", name, n, w)
				if name == implMinimal {
					cycles[name] = append(cycles[name], minimalCycle(db, table, id))
					continue
				}
				if name == minimalOnLockItem {
					if _, err := captureFloor(ctx, db, table, id); err != nil {
						b.Fatal(err)
					}
					// Let the minimal design in: it takes a lock whose end has passed.
					if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table,
						Key:              map[string]types.AttributeValue{"LockId": &types.AttributeValueMemberS{Value: id}},
						UpdateExpression: aws.String("SET ExpiresAt = :zero"), ExpressionAttributeValues: map[string]types.AttributeValue{":zero": &types.AttributeValueMemberN{Value: "0"}},
					}); err != nil {
						b.Fatal(err)
					}
					cycles[name] = append(cycles[name], minimalCycle(db, table, id))
					continue
				}
				f, err := captureFloor(ctx, db, table, id)
				if err != nil {
					b.Fatal(err)
				}
				switch name {
				case implFloor:
				case "all-trims":
					f = trimmed(f, trims...)
				default:
					for _, t := range trims {
						if t.name == name {
							f = trimmed(f, t)
						}
					}
				}
				if err := f.cycle(ctx); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				cycles[name] = append(cycles[name], f.cycle)
			}
		}
		var pairs [][2]string
		for _, name := range names[1:] {
			pairs = append(pairs, [2]string{name, implFloor})
		}
		b.Run("conc="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				r, err := interleave(ctx, cycles, names, latencyRounds(), ratioSlice)
				if err != nil {
					b.Fatal(err)
				}
				r.report(b, names, pairs)
			}
		})
	}
}
