package memddb_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

// The conformance suite: cases of DynamoDB's expression semantics and
// error shapes, each an expression on an item and the outcome DynamoDB
// gives. make test runs it on DynamoDB Local and on the double
// (DYNALOCK_TEST_BACKEND=double); a case that passes on one and fails on
// the other is a drift of the double.

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

type av = types.AttributeValue

func s(v string) av        { return &types.AttributeValueMemberS{Value: v} }
func n(v string) av        { return &types.AttributeValueMemberN{Value: v} }
func b(v string) av        { return &types.AttributeValueMemberB{Value: []byte(v)} }
func ss(v ...string) av    { return &types.AttributeValueMemberSS{Value: v} }
func ns(v ...string) av    { return &types.AttributeValueMemberNS{Value: v} }
func l(v ...av) av         { return &types.AttributeValueMemberL{Value: v} }
func m(v map[string]av) av { return &types.AttributeValueMemberM{Value: v} }
func boolean(v bool) av    { return &types.AttributeValueMemberBOOL{Value: v} }
func null() av             { return &types.AttributeValueMemberNULL{Value: true} }

// outcome is what a request got: "ok", "failed" (the condition did not
// hold), or "invalid: <words of the message>" (a ValidationException).
func outcome(err error) string {
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	var api interface{ ErrorCode() string }
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ccf):
		return "failed"
	case errors.As(err, &tce):
		codes := []string{}
		for _, r := range tce.CancellationReasons {
			codes = append(codes, aws.ToString(r.Code))
		}
		return "cancelled " + strings.Join(codes, ",")
	case errors.As(err, &api) && api.ErrorCode() == "ValidationException":
		return "invalid"
	case errors.As(err, &api):
		return api.ErrorCode()
	}
	return err.Error()
}

// render writes an item canonically (sets sorted), to compare items.
func render(v av) string {
	switch v := v.(type) {
	case nil:
		return "<none>"
	case *types.AttributeValueMemberS:
		return strconv.Quote(v.Value)
	case *types.AttributeValueMemberN:
		return "N" + v.Value
	case *types.AttributeValueMemberB:
		return "B" + strconv.Quote(string(v.Value))
	case *types.AttributeValueMemberBOOL:
		return strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "null"
	case *types.AttributeValueMemberSS:
		x := append([]string(nil), v.Value...)
		sort.Strings(x)
		return "SS" + fmt.Sprint(x)
	case *types.AttributeValueMemberNS:
		x := append([]string(nil), v.Value...)
		sort.Strings(x)
		return "NS" + fmt.Sprint(x)
	case *types.AttributeValueMemberL:
		parts := []string{}
		for _, e := range v.Value {
			parts = append(parts, render(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *types.AttributeValueMemberM:
		return renderItem(v.Value)
	}
	return fmt.Sprintf("%T", v)
}

func renderItem(it map[string]av) string {
	if it == nil {
		return "<none>"
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{}
	for _, k := range keys {
		parts = append(parts, k+":"+render(it[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// newTable creates a table keyed by pk (S) and returns its name.
func newTable(t *testing.T, db *dynamodb.Client) string {
	t.Helper()
	name := dynamotest.TableName(t)
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// item is the test item every condition case runs on.
var item = map[string]av{
	"str":   s("hello"),
	"uni":   s("héllo"),
	"num":   n("10"),
	"frac":  n("1.5"),
	"bin":   b("abc"),
	"yes":   boolean(true),
	"nil":   null(),
	"tags":  ss("a", "b"),
	"nums":  ns("1", "2"),
	"list":  l(s("x"), n("2"), m(map[string]av{"k": s("deep")})),
	"map":   m(map[string]av{"k": s("v"), "n": n("3"), "in": m(map[string]av{"z": s("zz")})}),
	"blank": s(""),
	"Lease": s("l1"),
}

// TestConditions: ConditionExpression × the item → holds, fails, or is
// refused.
func TestConditions(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	for i, tc := range []struct {
		expr   string
		names  map[string]string
		values map[string]av
		want   string
	}{
		{expr: "attribute_exists(str)", want: "ok"},
		{expr: "attribute_exists(absent)", want: "failed"},
		{expr: "attribute_not_exists(absent)", want: "ok"},
		{expr: "attribute_not_exists(#n)", names: map[string]string{"#n": "num"}, want: "failed"},
		{expr: "str = :v", values: map[string]av{":v": s("hello")}, want: "ok"},
		{expr: "str = :v", values: map[string]av{":v": s("Hello")}, want: "failed"},
		{expr: "str <> :v", values: map[string]av{":v": s("Hello")}, want: "ok"},
		{expr: "absent = :v", values: map[string]av{":v": s("x")}, want: "failed"},
		{expr: "absent <> :v", values: map[string]av{":v": s("x")}, want: "ok"},
		{expr: "NOT (absent = :v)", values: map[string]av{":v": s("x")}, want: "ok"},
		{expr: "num = :v", values: map[string]av{":v": n("10.0")}, want: "ok"},
		{expr: "num > :v", values: map[string]av{":v": n("9")}, want: "ok"},
		{expr: "num < :v", values: map[string]av{":v": n("9.99")}, want: "failed"},
		{expr: "frac <= :v", values: map[string]av{":v": n("1.50")}, want: "ok"},
		{expr: "num = :v", values: map[string]av{":v": s("10")}, want: "failed"},
		{expr: "num <> :v", values: map[string]av{":v": s("10")}, want: "ok"},
		{expr: "num < :v", values: map[string]av{":v": s("99")}, want: "failed"},
		{expr: "str < :v", values: map[string]av{":v": s("help")}, want: "ok"},
		{expr: "str > :v", values: map[string]av{":v": s("Zebra")}, want: "ok"},
		{expr: "bin < :v", values: map[string]av{":v": b("abd")}, want: "ok"},
		{expr: "yes = :v", values: map[string]av{":v": boolean(true)}, want: "ok"},
		{expr: "#nil = :v", names: map[string]string{"#nil": "nil"}, values: map[string]av{":v": null()}, want: "ok"},
		{expr: "tags = :v", values: map[string]av{":v": ss("b", "a")}, want: "ok"},
		{expr: "#map = :v", names: map[string]string{"#map": "map"}, values: map[string]av{":v": m(map[string]av{"k": s("v"), "n": n("3.0"), "in": m(map[string]av{"z": s("zz")})})}, want: "ok"},
		{expr: "#list = :v", names: map[string]string{"#list": "list"}, values: map[string]av{":v": l(s("x"), n("2"))}, want: "failed"},
		{expr: "blank = :v", values: map[string]av{":v": s("")}, want: "ok"},
		// AND binds tighter than OR; NOT tighter than AND.
		{expr: "str = :x OR num = :x AND num = :y", values: map[string]av{":x": s("hello"), ":y": n("1")}, want: "ok"},
		{expr: "(str = :x OR num = :x) AND num = :y", values: map[string]av{":x": s("hello"), ":y": n("1")}, want: "failed"},
		{expr: "NOT str = :x AND num = :y", values: map[string]av{":x": s("nope"), ":y": n("10")}, want: "ok"},
		{expr: "NOT (str = :x AND num = :y)", values: map[string]av{":x": s("hello"), ":y": n("10")}, want: "failed"},
		{expr: "str = :x and num = :y", values: map[string]av{":x": s("hello"), ":y": n("10")}, want: "ok"},
		// Functions.
		{expr: "size(str) = :v", values: map[string]av{":v": n("5")}, want: "ok"},
		{expr: "size(uni) = :v", values: map[string]av{":v": n("5")}, want: "ok"},
		{expr: "size(bin) = :v", values: map[string]av{":v": n("3")}, want: "ok"},
		{expr: "size(tags) = :v", values: map[string]av{":v": n("2")}, want: "ok"},
		{expr: "size(#list) = :v", names: map[string]string{"#list": "list"}, values: map[string]av{":v": n("3")}, want: "ok"},
		{expr: "size(#map) > :v", names: map[string]string{"#map": "map"}, values: map[string]av{":v": n("2")}, want: "ok"},
		{expr: "size(absent) >= :v", values: map[string]av{":v": n("0")}, want: "failed"},
		{expr: "begins_with(str, :v)", values: map[string]av{":v": s("he")}, want: "ok"},
		{expr: "begins_with(str, :v)", values: map[string]av{":v": s("lo")}, want: "failed"},
		{expr: "begins_with(bin, :v)", values: map[string]av{":v": b("ab")}, want: "ok"},
		{expr: "begins_with(num, :v)", values: map[string]av{":v": s("1")}, want: "failed"},
		{expr: "contains(str, :v)", values: map[string]av{":v": s("ell")}, want: "ok"},
		{expr: "contains(tags, :v)", values: map[string]av{":v": s("b")}, want: "ok"},
		{expr: "contains(nums, :v)", values: map[string]av{":v": n("2.0")}, want: "ok"},
		{expr: "contains(#list, :v)", names: map[string]string{"#list": "list"}, values: map[string]av{":v": n("2")}, want: "ok"},
		{expr: "contains(absent, :v)", values: map[string]av{":v": s("a")}, want: "failed"},
		{expr: "attribute_type(num, :t)", values: map[string]av{":t": s("N")}, want: "ok"},
		{expr: "attribute_type(tags, :t)", values: map[string]av{":t": s("L")}, want: "failed"},
		{expr: "num BETWEEN :lo AND :hi", values: map[string]av{":lo": n("10"), ":hi": n("11")}, want: "ok"},
		{expr: "num BETWEEN :lo AND :hi", values: map[string]av{":lo": n("11"), ":hi": n("12")}, want: "failed"},
		{expr: "str IN (:a, :b)", values: map[string]av{":a": s("x"), ":b": s("hello")}, want: "ok"},
		{expr: "str IN (:a)", values: map[string]av{":a": s("x")}, want: "failed"},
		// Nested paths and map keys.
		{expr: "#map.k = :v", names: map[string]string{"#map": "map"}, values: map[string]av{":v": s("v")}, want: "ok"},
		{expr: "#map.#in.z = :v", names: map[string]string{"#map": "map", "#in": "in"}, values: map[string]av{":v": s("zz")}, want: "ok"},
		{expr: "#list[1] = :v", names: map[string]string{"#list": "list"}, values: map[string]av{":v": n("2")}, want: "ok"},
		{expr: "#list[2].k = :v", names: map[string]string{"#list": "list"}, values: map[string]av{":v": s("deep")}, want: "ok"},
		{expr: "attribute_exists(#list[5])", names: map[string]string{"#list": "list"}, want: "failed"},
		{expr: "attribute_exists(#map.nope.deeper)", names: map[string]string{"#map": "map"}, want: "failed"},
		{expr: "#k = :v", names: map[string]string{"#k": "map.k"}, values: map[string]av{":v": s("v")}, want: "failed"},
		// What DynamoDB refuses.
		{expr: "status = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "Lease = :v", values: map[string]av{":v": s("l1")}, want: "ok"},
		{expr: "str = :v", names: map[string]string{"#unused": "x"}, values: map[string]av{":v": s("hello")}, want: "invalid"},
		{expr: "str = :v", values: map[string]av{":v": s("hello"), ":unused": s("x")}, want: "invalid"},
		{expr: "str = :undefined", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "#undefined = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "attribute_exists(str)", names: map[string]string{}, want: "invalid"},
		{expr: "num BETWEEN :hi AND :lo", values: map[string]av{":lo": n("1"), ":hi": n("2")}, want: "invalid"},
		{expr: "str = :v AND", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "if_not_exists(str, :v) = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "nosuchfn(str)", want: "invalid"},
		// Found by running both backends: what DynamoDB Local accepts and
		// refuses at the edges of the grammar.
		{expr: ":a = :b", values: map[string]av{":a": s("x"), ":b": s("x")}, want: "ok"},
		{expr: "str = str", want: "invalid"},
		{expr: "size(num) = :v", values: map[string]av{":v": n("2")}, want: "failed"},
		{expr: "size(yes) = :v", values: map[string]av{":v": n("1")}, want: "failed"},
		{expr: "begins_with(:v, :w)", values: map[string]av{":v": s("ab"), ":w": s("a")}, want: "ok"},
		{expr: "NOT NOT str = :v", values: map[string]av{":v": s("hello")}, want: "ok"},
		{expr: "((str = :v))", values: map[string]av{":v": s("hello")}, want: "invalid"},
		{expr: "str IN (:v)", values: map[string]av{":v": s("hello")}, want: "ok"},
		{expr: "#list.k = :v", names: map[string]string{"#list": "list"}, values: map[string]av{":v": s("x")}, want: "failed"},
		{expr: "#map[0] = :v", names: map[string]string{"#map": "map"}, values: map[string]av{":v": s("x")}, want: "failed"},
		{expr: "str < :v", values: map[string]av{":v": boolean(true)}, want: "invalid"},
		{expr: "yes < :v", values: map[string]av{":v": boolean(true)}, want: "invalid"},
		{expr: "tags < :v", values: map[string]av{":v": ss("z")}, want: "invalid"},
		{expr: "contains(str, :v)", values: map[string]av{":v": n("1")}, want: "failed"},
		{expr: "contains(:v, str)", values: map[string]av{":v": s("hello!")}, want: "ok"},
		{expr: "attribute_exists(:v)", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "attribute_type(num, :t)", values: map[string]av{":t": s("X")}, want: "invalid"},
		{expr: "str BETWEEN :a AND :b", values: map[string]av{":a": n("1"), ":b": s("z")}, want: "invalid"},
		{expr: "num BETWEEN :a AND :b", values: map[string]av{":a": s("z"), ":b": s("a")}, want: "invalid"},
		{expr: "size(str) BETWEEN :a AND :b", values: map[string]av{":a": n("1"), ":b": n("9")}, want: "ok"},
		{expr: "str = :v OR", values: map[string]av{":v": s("x")}, want: "invalid"},
		{expr: "STR = :v", values: map[string]av{":v": s("hello")}, want: "failed"},
		{expr: "str=:v", values: map[string]av{":v": s("hello")}, want: "ok"},
		{expr: "_x = :v OR str = :v", values: map[string]av{":v": s("hello")}, want: "invalid"},
		{expr: "a1 = :v OR str = :v", values: map[string]av{":v": s("hello")}, want: "ok"},
		{expr: "#a = :v", names: map[string]string{"#a": "str", "#b": "str"}, values: map[string]av{":v": s("hello")}, want: "invalid"},
		{expr: "#a = :v", names: map[string]string{"#a": ""}, values: map[string]av{":v": s("hello")}, want: "invalid"},
		{expr: "str IN (:a, :b, :a)", values: map[string]av{":a": s("x"), ":b": s("hello")}, want: "ok"},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.expr), func(t *testing.T) {
			pk := "c" + strconv.Itoa(i)
			it := map[string]av{"pk": s(pk)}
			for k, v := range item {
				it[k] = v
			}
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
				t.Fatal(err)
			}
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: aws.String(table), Key: map[string]av{"pk": s(pk)},
				ConditionExpression: aws.String(tc.expr), ExpressionAttributeNames: tc.names, ExpressionAttributeValues: tc.values,
			})
			if got := outcome(err); got != tc.want {
				t.Errorf("%s: %s, want %s (%v)", tc.expr, got, tc.want, err)
			}
		})
	}
}

// TestUpdates: UpdateExpression × an item → the new item, or refused.
func TestUpdates(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	start := map[string]av{
		"num": n("10"), "str": s("a"), "tags": ss("a", "b"), "list": l(s("x"), s("y")),
		"map": m(map[string]av{"k": s("v"), "in": m(map[string]av{})}),
	}
	for i, tc := range []struct {
		name    string
		missing bool // the item does not exist before the update
		expr    string
		cond    string
		names   map[string]string
		values  map[string]av
		want    string // the new item (rendered), or an outcome
	}{
		{name: "SET and arithmetic", expr: "SET num = num + :one, str = :s", values: map[string]av{":one": n("1"), ":s": s("b")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N11 str:"b" tags:SS[a b]}`},
		{name: "SET sees the old item", expr: "SET num = :n, str = num", values: map[string]av{":n": n("1")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N1 str:N10 tags:SS[a b]}`},
		{name: "if_not_exists seeds, then adds", missing: true, expr: "SET #t = if_not_exists(#t, :seed) + :one", names: map[string]string{"#t": "tok"}, values: map[string]av{":seed": n("100"), ":one": n("1")},
			want: `{tok:N101}`},
		{name: "if_not_exists keeps", expr: "SET num = if_not_exists(num, :seed) - :one", values: map[string]av{":seed": n("100"), ":one": n("1")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N9 str:"a" tags:SS[a b]}`},
		{name: "decimal arithmetic", expr: "SET num = num - :d", values: map[string]av{":d": n("0.25")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N9.75 str:"a" tags:SS[a b]}`},
		// DynamoDB Local returns a number as it was written, and a sum
		// with the most decimals of its operands (Java's BigDecimal).
		{name: "numbers kept as written", missing: true, expr: "SET a = :a, b = :b, c = :c", values: map[string]av{":a": n("1.50"), ":b": n("007"), ":c": n("-0.0")},
			want: `{a:N1.50 b:N007 c:N-0.0}`},
		{name: "sums keep decimals", missing: true, expr: "SET a = :a + :b, b = :c + :c", values: map[string]av{":a": n("1.50"), ":b": n("0.5"), ":c": n("1")},
			want: `{a:N2.00 b:N2}`},
		{name: "ADD to a missing number and set", missing: true, expr: "ADD c :one, s :s", values: map[string]av{":one": n("1"), ":s": ss("x")},
			want: `{c:N1 s:SS[x]}`},
		{name: "ADD to a set", expr: "ADD tags :s", values: map[string]av{":s": ss("b", "c")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N10 str:"a" tags:SS[a b c]}`},
		{name: "DELETE the last elements removes the set", expr: "DELETE tags :s", values: map[string]av{":s": ss("a", "b")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N10 str:"a"}`},
		{name: "list_append", expr: "SET #l = list_append(#l, :new), #w = list_append(if_not_exists(#w, :none), :new)", names: map[string]string{"#l": "list", "#w": "w"}, values: map[string]av{":new": l(s("z")), ":none": l()},
			want: `{list:["x" "y" "z"] map:{in:{} k:"v"} num:N10 str:"a" tags:SS[a b] w:["z"]}`},
		{name: "REMOVE a map key and a list element", expr: "REMOVE #m.k, #l[0]", names: map[string]string{"#m": "map", "#l": "list"},
			want: `{list:["y"] map:{in:{}} num:N10 str:"a" tags:SS[a b]}`},
		{name: "REMOVE what is not there", expr: "REMOVE nope, #m.nope, #l[7]", names: map[string]string{"#m": "map", "#l": "list"},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N10 str:"a" tags:SS[a b]}`},
		{name: "SET into a nested map, and past a list's end", expr: "SET #m.#in.z = :v, #l[9] = :v", names: map[string]string{"#m": "map", "#in": "in", "#l": "list"}, values: map[string]av{":v": s("new")},
			want: `{list:["x" "y" "new"] map:{in:{z:"new"} k:"v"} num:N10 str:"a" tags:SS[a b]}`},
		{name: "REMOVE only, on no item, creates the key", missing: true, expr: "REMOVE a",
			want: `{}`},
		{name: "SET under a missing map", expr: "SET #m.nope.deeper = :v", names: map[string]string{"#m": "map"}, values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "arithmetic on a missing attribute", expr: "SET nope = nope + :one", values: map[string]av{":one": n("1")}, want: "invalid"},
		{name: "arithmetic on a string", expr: "SET str = str + :one", values: map[string]av{":one": n("1")}, want: "invalid"},
		{name: "ADD a number to a string", expr: "ADD str :one", values: map[string]av{":one": n("1")}, want: "invalid"},
		{name: "ADD a string", expr: "ADD num :s", values: map[string]av{":s": s("x")}, want: "invalid"},
		{name: "list_append of a non-list", expr: "SET #l = list_append(#l, :s)", names: map[string]string{"#l": "list"}, values: map[string]av{":s": s("x")}, want: "invalid"},
		{name: "the key", expr: "SET pk = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "overlapping paths", expr: "SET #m.k = :v REMOVE #m", names: map[string]string{"#m": "map"}, values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "the same path twice", expr: "SET str = :v, str = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "SET twice", expr: "SET str = :v SET num = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "a reserved word", expr: "SET #n = :v, name = :v", names: map[string]string{"#n": "n"}, values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "a reserved word as a name is fine", expr: "SET #s = :v", names: map[string]string{"#s": "status"}, values: map[string]av{":v": s("x")},
			want: `{list:["x" "y"] map:{in:{} k:"v"} num:N10 status:"x" str:"a" tags:SS[a b]}`},
		{name: "size() is for conditions", expr: "SET num = size(str)", want: "invalid"},
		{name: "a condition that fails changes nothing", expr: "SET str = :v", cond: "str = :v", values: map[string]av{":v": s("x")}, want: "failed"},
		{name: "a sum of two values", missing: true, expr: "SET a = :v + :w", values: map[string]av{":v": n("1"), ":w": n("2")}, want: `{a:N3}`},
		{name: "if_not_exists of a value", missing: true, expr: "SET a = if_not_exists(:v, :w)", values: map[string]av{":v": n("1"), ":w": n("2")}, want: "invalid"},
		{name: "list_append of two values", missing: true, expr: "SET a = list_append(:v, :v)", values: map[string]av{":v": l(s("x"))}, want: `{a:["x" "x"]}`},
		{name: "SET in a missing list", expr: "SET nope[0] = :v", values: map[string]av{":v": s("x")}, want: "invalid"},
		{name: "REMOVE under a missing map key", expr: "REMOVE #m.nope.deeper", names: map[string]string{"#m": "map"}, want: "invalid"},
		{name: "REMOVE under a missing attribute", expr: "REMOVE nope.deeper", want: "invalid"},
		{name: "ADD to a map key", expr: "ADD #m.n :one", names: map[string]string{"#m": "map"}, values: map[string]av{":one": n("1")}, want: `{list:["x" "y"] map:{in:{} k:"v" n:N1} num:N10 str:"a" tags:SS[a b]}`},
		{name: "DELETE of another set type", expr: "DELETE tags :v", values: map[string]av{":v": ns("1")}, want: "invalid"},
		{name: "DELETE from a number", expr: "DELETE num :v", values: map[string]av{":v": ns("1")}, want: "invalid"},
		{name: "SET a list and its element", expr: "SET #l[0] = :v, #l = :w", names: map[string]string{"#l": "list"}, values: map[string]av{":v": s("a"), ":w": l()}, want: "invalid"},
		{name: "SET two list elements", expr: "SET #l[0] = :v, #l[1] = :v", names: map[string]string{"#l": "list"}, values: map[string]av{":v": s("a")}, want: `{list:["a" "a"] map:{in:{} k:"v"} num:N10 str:"a" tags:SS[a b]}`},
		{name: "REMOVE two list elements, by their old indexes", expr: "REMOVE #l[0], #l[1]", names: map[string]string{"#l": "list"}, want: `{list:[] map:{in:{} k:"v"} num:N10 str:"a" tags:SS[a b]}`},
		{name: "SET a map key in a string", expr: "SET str.k = :v", values: map[string]av{":v": s("a")}, want: "invalid"},
		{name: "an empty update expression", expr: "", want: "invalid"},
		{name: "keywords in lower case", expr: "set str = :v remove num", values: map[string]av{":v": s("b")}, want: `{list:["x" "y"] map:{in:{} k:"v"} str:"b" tags:SS[a b]}`},
		{name: "SET and ADD of one attribute", expr: "SET num = :v ADD num :v", values: map[string]av{":v": n("1")}, want: "invalid"},
		{name: "arithmetic with a string value", expr: "SET num = num - :v", values: map[string]av{":v": s("1")}, want: "invalid"},
		{name: "an empty string", expr: "SET str = :v", values: map[string]av{":v": s("")}, want: `{list:["x" "y"] map:{in:{} k:"v"} num:N10 str:"" tags:SS[a b]}`},
		{name: "ADD a number to a string set", expr: "ADD tags :v", values: map[string]av{":v": n("1")}, want: "invalid"},
		{name: "arithmetic with a missing attribute on the right", expr: "SET num = num + nope", want: "invalid"},
		{name: "a sum of three", expr: "SET num = num + :v + :v", values: map[string]av{":v": n("1")}, want: "invalid"},
		{name: "nested if_not_exists", missing: true, expr: "SET a = if_not_exists(a, if_not_exists(b, :v))", values: map[string]av{":v": n("1")}, want: `{a:N1}`},
		{name: "SET under a list index past the end", expr: "SET #l[5].k = :v", names: map[string]string{"#l": "list"}, values: map[string]av{":v": s("a")}, want: "invalid"},
		{name: "SET a map key named like the key", expr: "SET #m.pk = :v", names: map[string]string{"#m": "map"}, values: map[string]av{":v": s("a")}, want: `{list:["x" "y"] map:{in:{} k:"v" pk:"a"} num:N10 str:"a" tags:SS[a b]}`},
		{name: "REMOVE the key", expr: "REMOVE pk", want: "invalid"},
		{name: "the condition sees no item as empty", missing: true, expr: "SET str = :v", cond: "attribute_not_exists(pk) AND NOT (str = :v)", values: map[string]av{":v": s("x")},
			want: `{str:"x"}`},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			pk := "u" + strconv.Itoa(i)
			key := map[string]av{"pk": s(pk)}
			if !tc.missing {
				it := map[string]av{"pk": s(pk)}
				for k, v := range start {
					it[k] = v
				}
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
					t.Fatal(err)
				}
			}
			in := &dynamodb.UpdateItemInput{
				TableName: aws.String(table), Key: key, UpdateExpression: aws.String(tc.expr),
				ExpressionAttributeNames: tc.names, ExpressionAttributeValues: tc.values,
			}
			if tc.cond != "" {
				in.ConditionExpression = aws.String(tc.cond)
			}
			_, err := db.UpdateItem(ctx, in)
			got := outcome(err)
			if err == nil {
				out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				delete(out.Item, "pk")
				got = renderItem(out.Item)
			}
			if got != tc.want {
				t.Errorf("%s:\n got %s\nwant %s (%v)", tc.expr, got, tc.want, err)
			}
		})
	}
}
