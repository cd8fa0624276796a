package memddb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestConditionFailureItem: ConditionalCheckFailedException carries the
// old item when, and only when, the request asks for it.
func TestConditionFailureItem(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	key := map[string]av{"pk": s("a")}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("a"), "v": n("1")}}); err != nil {
		t.Fatal(err)
	}
	for _, rv := range []types.ReturnValuesOnConditionCheckFailure{types.ReturnValuesOnConditionCheckFailureAllOld, types.ReturnValuesOnConditionCheckFailureNone} {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: key, UpdateExpression: aws.String("SET v = :two"),
			ConditionExpression: aws.String("v = :two"), ExpressionAttributeValues: map[string]av{":two": n("2")},
			ReturnValuesOnConditionCheckFailure: rv,
		})
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			t.Fatalf("%s: %v, want ConditionalCheckFailedException", rv, err)
		}
		want := "<none>"
		if rv == types.ReturnValuesOnConditionCheckFailureAllOld {
			want = `{pk:"a" v:N1}`
		}
		if got := renderItem(ccf.Item); got != want {
			t.Errorf("%s: the exception's item is %s, want %s", rv, got, want)
		}
	}
	// On no item, ALL_OLD has nothing to send.
	_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]av{"pk": s("none")},
		ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || ccf.Item != nil {
		t.Errorf("on no item: %v (item %v), want ConditionalCheckFailedException without an item", err, ccf)
	}
}

// TestReturnValues: what UpdateItem, PutItem and DeleteItem return.
func TestReturnValues(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	key := map[string]av{"pk": s("a")}
	put, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("a"), "v": n("1"), "w": s("x")},
		ReturnValues: types.ReturnValueAllOld})
	if err != nil || put.Attributes != nil {
		t.Fatalf("first put: %v, %v; want no attributes", put, err)
	}
	for _, tc := range []struct {
		rv   types.ReturnValue
		want string
	}{
		{types.ReturnValueAllNew, `{pk:"a" v:N2 w:"x"}`},
		{types.ReturnValueAllOld, `{pk:"a" v:N2 w:"x"}`},
		{types.ReturnValueUpdatedOld, `{v:N3}`},
		{types.ReturnValueUpdatedNew, `{v:N5}`},
		{types.ReturnValueNone, `<none>`},
	} {
		out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key,
			UpdateExpression: aws.String("ADD v :one"), ExpressionAttributeValues: map[string]av{":one": n("1")}, ReturnValues: tc.rv})
		if err != nil {
			t.Fatal(err)
		}
		if got := renderItem(out.Attributes); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.rv, got, tc.want)
		}
	}
	del, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key, ReturnValues: types.ReturnValueAllOld})
	if err != nil || renderItem(del.Attributes) != `{pk:"a" v:N6 w:"x"}` {
		t.Errorf("delete: %v, %v", renderItem(del.Attributes), err)
	}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key, ReturnValues: types.ReturnValueAllNew})
	if got := outcome(err); got != "invalid" {
		t.Errorf("PutItem ALL_NEW: %s, want invalid", got)
	}
}

// TestTransactions: all or nothing, with a reason per action.
func TestTransactions(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("held"), "lease": s("L1")}}); err != nil {
		t.Fatal(err)
	}
	check := func(lease string) types.TransactWriteItem {
		return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(table), Key: map[string]av{"pk": s("held")},
			ConditionExpression: aws.String("#l = :l"), ExpressionAttributeNames: map[string]string{"#l": "lease"},
			ExpressionAttributeValues:           map[string]av{":l": s(lease)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	add := types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: map[string]av{"pk": s("counter")},
		UpdateExpression: aws.String("ADD c :one"), ExpressionAttributeValues: map[string]av{":one": n("1")},
	}}
	counter := func() string {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]av{"pk": s("counter")}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return renderItem(out.Item)
	}

	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{add, check("L2")}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("a failed check: %v, want TransactionCanceledException", err)
	}
	if got := outcome(err); got != "cancelled None,ConditionalCheckFailed" {
		t.Errorf("reasons %s", got)
	}
	if r := tce.CancellationReasons; len(r) == 2 && renderItem(r[1].Item) != `{lease:"L1" pk:"held"}` {
		t.Errorf("the failed check's item %s, want the held item", renderItem(r[1].Item))
	}
	if !strings.Contains(tce.ErrorMessage(), "[None, ConditionalCheckFailed]") {
		t.Errorf("message %q does not list the reasons", tce.ErrorMessage())
	}
	if got := counter(); got != "<none>" {
		t.Errorf("a cancelled transaction wrote %s", got)
	}

	token := "token-" + table
	for range 2 { // the retry of a transaction that went through is answered, not applied
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
			TransactItems: []types.TransactWriteItem{add, check("L1")}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := counter(); got != `{c:N1 pk:"counter"}` {
		t.Errorf("after one transaction sent twice with one token: %s, want c 1", got)
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
		TransactItems: []types.TransactWriteItem{add}})
	if got := outcome(err); got != "IdempotentParameterMismatchException" {
		t.Errorf("the token with another request: %s, want IdempotentParameterMismatchException", got)
	}

	for name, items := range map[string][]types.TransactWriteItem{
		"two actions on one item": {add, add},
		"an unused name":          {{ConditionCheck: &types.ConditionCheck{TableName: aws.String(table), Key: map[string]av{"pk": s("held")}, ConditionExpression: aws.String("attribute_exists(pk)"), ExpressionAttributeNames: map[string]string{"#x": "x"}}}},
		"a key that does not fit": {{Delete: &types.Delete{TableName: aws.String(table), Key: map[string]av{"id": s("x")}}}},
	} {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if got := outcome(err); got != "invalid" {
			t.Errorf("%s: %s, want invalid (%v)", name, got, err)
		}
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String(table), Key: map[string]av{"pk": s("held")},
			UpdateExpression: aws.String("ADD lease :one"), ExpressionAttributeValues: map[string]av{":one": n("1")}}},
	}})
	// DynamoDB Local refuses the request; DynamoDB's documentation lists
	// a ValidationError cancellation reason for this case too.
	if got := outcome(err); got != "invalid" {
		t.Errorf("an update of the wrong type: %s, want invalid (%v)", got, err)
	}
}

// TestRequestErrors: what DynamoDB refuses before it looks at an item.
func TestRequestErrors(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	big := strings.Repeat("x", 400*1024)
	for name, f := range map[string]func() error{
		"no such table": func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table + "-none"), Key: map[string]av{"pk": s("a")}})
			return err
		},
		"key of another attribute": func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]av{"id": s("a")}})
			return err
		},
		"key of another type": func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]av{"pk": n("1")}})
			return err
		},
		"key with another attribute": func() error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]av{"pk": s("a"), "x": s("b")}})
			return err
		},
		"item without its key": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"x": s("a")}})
			return err
		},
		"empty key": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("")}})
			return err
		},
		"item over 400 KB": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("a"), "big": s(big)}})
			return err
		},
		"update over 400 KB": func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: map[string]av{"pk": s("b")},
				UpdateExpression: aws.String("SET big = :b"), ExpressionAttributeValues: map[string]av{":b": s(big)}})
			return err
		},
		"empty set": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("a"), "s": ss()}})
			return err
		},
		"values without an expression": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]av{"pk": s("a")},
				ExpressionAttributeValues: map[string]av{":v": s("x")}})
			return err
		},
		"an existing table": func() error {
			_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
			return err
		},
	} {
		want := "invalid"
		switch name {
		case "no such table":
			want = "ResourceNotFoundException"
		case "an existing table":
			want = "ResourceInUseException"
		}
		if got := outcome(f()); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// TestTTL: TimeToLive's settings as CreateTable in admin reads them.
func TestTTL(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	table := newTable(t, db)
	desc := func() string {
		out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.TimeToLiveDescription.TimeToLiveStatus) + " " + aws.ToString(out.TimeToLiveDescription.AttributeName)
	}
	if got := desc(); got != "DISABLED " {
		t.Errorf("a new table's TTL: %q", got)
	}
	enable := func() error {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("TTL"), Enabled: aws.Bool(true)}})
		return err
	}
	if err := enable(); err != nil {
		t.Fatal(err)
	}
	if got := desc(); got != "ENABLED TTL" {
		t.Errorf("TTL after enabling: %q", got)
	}
	err := enable()
	var api interface{ ErrorMessage() string }
	if outcome(err) != "invalid" || !errors.As(err, &api) || !strings.Contains(strings.ToLower(api.ErrorMessage()), "already enabled") {
		t.Errorf("enabling twice: %v, want a ValidationException saying it is already enabled", err)
	}
}

// TestReads: Query on a composite key and Scan, with filters, projections
// and pages.
func TestReads(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	name := newTable(t, db) + "-c"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []map[string]av{
		{"pk": s("a"), "sk": n("1"), "v": s("one")},
		{"pk": s("a"), "sk": n("2"), "v": s("two")},
		{"pk": s("a"), "sk": n("10"), "v": s("ten")},
		{"pk": s("b"), "sk": n("1"), "v": s("other")},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	vals := func(items []map[string]av) string {
		var out []string
		for _, it := range items {
			out = append(out, render(it["v"]))
		}
		return strings.Join(out, ",")
	}
	q, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), KeyConditionExpression: aws.String("pk = :a AND sk > :one"),
		ExpressionAttributeValues: map[string]av{":a": s("a"), ":one": n("1")}, ScanIndexForward: aws.Bool(false)})
	if err != nil || vals(q.Items) != `"ten","two"` {
		t.Errorf("query, backwards: %s, %v", vals(q.Items), err)
	}
	q, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), KeyConditionExpression: aws.String("pk = :a"),
		ExpressionAttributeValues: map[string]av{":a": s("a")}, Limit: aws.Int32(2)})
	if err != nil || vals(q.Items) != `"one","two"` || renderItem(q.LastEvaluatedKey) != `{pk:"a" sk:N2}` {
		t.Errorf("query page 1: %s, %s, %v", vals(q.Items), renderItem(q.LastEvaluatedKey), err)
	}
	q, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), KeyConditionExpression: aws.String("pk = :a"),
		ExpressionAttributeValues: map[string]av{":a": s("a")}, Limit: aws.Int32(2), ExclusiveStartKey: q.LastEvaluatedKey})
	if err != nil || vals(q.Items) != `"ten"` || q.LastEvaluatedKey != nil {
		t.Errorf("query page 2: %s, %s, %v", vals(q.Items), renderItem(q.LastEvaluatedKey), err)
	}
	_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), KeyConditionExpression: aws.String("sk = :one"),
		ExpressionAttributeValues: map[string]av{":one": n("1")}})
	if got := outcome(err); got != "invalid" {
		t.Errorf("query without the partition key: %s, want invalid", got)
	}
	sc, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(name), FilterExpression: aws.String("begins_with(v, :t)"),
		ExpressionAttributeValues: map[string]av{":t": s("t")}, ProjectionExpression: aws.String("v"), ConsistentRead: aws.Bool(true)})
	if err != nil || sc.Count != 2 || sc.ScannedCount != 4 || len(sc.Items) != 2 || len(sc.Items[0]) != 1 {
		t.Errorf("scan with a filter: %d of %d, %v, %v", sc.Count, sc.ScannedCount, sc.Items, err)
	}
	var all []map[string]av
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(name), Limit: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
	}
	if len(all) != 4 {
		t.Errorf("scan in pages of 3: %d items, want 4", len(all))
	}
}

// TestBatchesAndIndexes: BatchWriteItem, BatchGetItem and a Query on a
// global secondary index, as a handler over its own table uses them.
func TestBatchesAndIndexes(t *testing.T) {
	ctx := context.Background()
	db := srv.Client()
	name := newTable(t, db) + "-gsi"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("owner"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("by-owner"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("owner"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("pk"), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	put := func(pk, owner string) types.WriteRequest {
		it := map[string]av{"pk": s(pk)}
		if owner != "" {
			it["owner"] = s(owner)
		}
		return types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	_, err = db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		name: {put("a", "ann"), put("b", "bob"), put("c", "ann"), put("d", "")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		name: {put("a", "ann"), put("a", "bob")},
	}})
	if got := outcome(err); got != "invalid" {
		t.Errorf("a batch writing one key twice: %s, want invalid", got)
	}
	got, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		name: {Keys: []map[string]av{{"pk": s("a")}, {"pk": s("b")}, {"pk": s("zz")}}, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil || len(got.Responses[name]) != 2 {
		t.Errorf("batch get of two present keys and one absent: %v, %v", got, err)
	}
	q, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), IndexName: aws.String("by-owner"),
		KeyConditionExpression: aws.String("#o = :o"), ExpressionAttributeNames: map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]av{":o": s("ann")}})
	var pks []string
	for _, it := range q.Items {
		pks = append(pks, render(it["pk"]))
	}
	if err != nil || strings.Join(pks, ",") != `"a","c"` {
		t.Errorf("query on the index: %v, %v", pks, err)
	}
	_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(name), IndexName: aws.String("no-such-index"),
		KeyConditionExpression: aws.String("pk = :o"), ExpressionAttributeValues: map[string]av{":o": s("a")}})
	if got := outcome(err); got != "invalid" {
		t.Errorf("query on an index the table lacks: %s, want invalid", got)
	}
}
