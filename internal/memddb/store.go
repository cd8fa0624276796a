// Package memddb is an in-memory DynamoDB: the subset of DynamoDB's JSON
// protocol that DynaLock, its middleware, its tools and a typical Lambda
// handler use, served over HTTP so that any aws-sdk-go-v2 client works
// with it. The public package dynalocktest wraps it for users' tests;
// internal/dynamotest runs the project's own tests on it when asked to.
//
// It follows DynamoDB's semantics where they are observable: conditions
// and updates (with DynamoDB's validation of placeholders, reserved words
// and overlapping paths), ConditionalCheckFailedException with the old
// item, transactions with cancellation reasons and idempotency tokens, and
// TTL that never deletes on time (DynamoDB's deletion is lazy; correct
// code never depends on it). The conformance tests in this package run the
// same cases on DynamoDB Local and on it.
package memddb

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Store holds tables. Its methods are safe for concurrent use: one mutex
// serializes every request, which makes each request (and each
// transaction) atomic.
type Store struct {
	mu     sync.Mutex
	tables map[string]*table
	tokens map[string]tokenEntry // TransactWriteItems' ClientRequestToken
}

// tokenEntry remembers a successful transaction for its token's
// lifetime, as DynamoDB does: a retry with the same token and request
// succeeds without writing again.
type tokenEntry struct {
	request string
	at      time.Time
}

// tokenLifetime is how long DynamoDB keeps a ClientRequestToken.
const tokenLifetime = 10 * time.Minute

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{tables: map[string]*table{}, tokens: map[string]tokenEntry{}}
}

// Do runs the operation op (such as "PutItem") on its JSON request body
// and returns its JSON response, or an error that is an *Error for
// everything DynamoDB would answer with an exception.
func (s *Store) Do(op string, body []byte) (any, error) {
	h, ok := handlers[op]
	if !ok {
		return nil, &Error{Type: "UnknownOperationException", Message: "The in-memory DynamoDB does not support the operation " + op}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return h(s, body)
}

// handlers are the supported operations.
var handlers = map[string]func(*Store, []byte) (any, error){
	"CreateTable":        decoded((*Store).createTable),
	"DeleteTable":        decoded((*Store).deleteTable),
	"DescribeTable":      decoded((*Store).describeTable),
	"ListTables":         decoded((*Store).listTables),
	"UpdateTimeToLive":   decoded((*Store).updateTimeToLive),
	"DescribeTimeToLive": decoded((*Store).describeTimeToLive),
	"GetItem":            decoded((*Store).getItem),
	"PutItem":            decoded((*Store).putItem),
	"UpdateItem":         decoded((*Store).updateItem),
	"DeleteItem":         decoded((*Store).deleteItem),
	"TransactWriteItems": (*Store).transactWriteItems,
	"TransactGetItems":   decoded((*Store).transactGetItems),
	"BatchGetItem":       decoded((*Store).batchGetItem),
	"BatchWriteItem":     decoded((*Store).batchWriteItem),
	"Query":              decoded((*Store).query),
	"Scan":               decoded((*Store).scan),
}

// decoded adapts an operation on a typed request.
func decoded[In any](f func(*Store, *In) (any, error)) func(*Store, []byte) (any, error) {
	return func(s *Store, body []byte) (any, error) {
		in := new(In)
		if err := decode(body, in); err != nil {
			return nil, err
		}
		return f(s, in)
	}
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		if e := asError(err); e != nil {
			return e
		}
		return &Error{Type: "SerializationException", Message: err.Error()}
	}
	return nil
}

// asError finds an *Error in err's chain.
func asError(err error) *Error {
	for err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil
		}
		err = u.Unwrap()
	}
	return nil
}

func (s *Store) table(name string) (*table, error) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t, ok := s.tables[name]
	if !ok {
		return nil, notFound()
	}
	return t, nil
}

type createTableInput struct {
	TableName              string
	KeySchema              []keyElement
	AttributeDefinitions   []attrDef
	BillingMode            string
	GlobalSecondaryIndexes []map[string]any
	LocalSecondaryIndexes  []map[string]any
}

func (s *Store) createTable(in *createTableInput) (any, error) {
	if !tableNameRE.MatchString(in.TableName) {
		return nil, validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", in.TableName)
	}
	if _, ok := s.tables[in.TableName]; ok {
		return nil, &Error{Type: "ResourceInUseException", Message: "Cannot create preexisting table"}
	}
	t := &table{name: in.TableName, created: time.Now(), keys: in.KeySchema, attrDefs: in.AttributeDefinitions,
		billing: in.BillingMode, items: map[string]Item{}}
	if t.billing == "" {
		t.billing = "PROVISIONED"
	}
	if err := checkKeySchema(t, in.KeySchema, "table"); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, k := range in.KeySchema {
		used[k.AttributeName] = true
	}
	for _, group := range []struct {
		raw    []map[string]any
		global bool
	}{{in.GlobalSecondaryIndexes, true}, {in.LocalSecondaryIndexes, false}} {
		for _, raw := range group.raw {
			ix := index{global: group.global, raw: raw}
			ix.name, _ = raw["IndexName"].(string)
			b, _ := json.Marshal(raw["KeySchema"])
			_ = json.Unmarshal(b, &ix.keys)
			if err := checkKeySchema(t, ix.keys, "index"); err != nil {
				return nil, err
			}
			for _, k := range ix.keys {
				used[k.AttributeName] = true
			}
			t.indexes = append(t.indexes, ix)
		}
	}
	if len(used) != len(in.AttributeDefinitions) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	s.tables[t.name] = t
	return map[string]any{"TableDescription": t.describe("ACTIVE")}, nil
}

// checkKeySchema checks a table's or index's key schema: a HASH key, then
// an optional RANGE key, each defined as S, N or B.
func checkKeySchema(t *table, keys []keyElement, what string) error {
	if len(keys) == 0 || len(keys) > 2 {
		return validation("1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1")
	}
	for i, k := range keys {
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if k.KeyType != want {
			return validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
		}
		switch t.attrType(k.AttributeName) {
		case "S", "N", "B":
		case "":
			return validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [...] (%s)", k.AttributeName, what)
		default:
			return validation("Member must satisfy enum value set: [B, N, S]")
		}
	}
	return nil
}

type tableNameInput struct{ TableName string }

func (s *Store) deleteTable(in *tableNameInput) (any, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	delete(s.tables, t.name)
	return map[string]any{"TableDescription": t.describe("DELETING")}, nil
}

func (s *Store) describeTable(in *tableNameInput) (any, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": t.describe("ACTIVE")}, nil
}

type listTablesInput struct {
	ExclusiveStartTableName string
	Limit                   int
}

func (s *Store) listTables(in *listTablesInput) (any, error) {
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := map[string]any{}
	limit := in.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	if len(names) > limit {
		names = names[:limit]
		out["LastEvaluatedTableName"] = names[limit-1]
	}
	out["TableNames"] = names
	return out, nil
}

type updateTTLInput struct {
	TableName               string
	TimeToLiveSpecification struct {
		AttributeName string
		Enabled       bool
	}
}

func (s *Store) updateTimeToLive(in *updateTTLInput) (any, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	switch {
	case spec.AttributeName == "":
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	case spec.Enabled && t.ttlAttr != "":
		return nil, validation("TimeToLive is already enabled")
	case !spec.Enabled && t.ttlAttr == "":
		return nil, validation("TimeToLive is already disabled")
	case spec.Enabled:
		t.ttlAttr = spec.AttributeName
	default:
		t.ttlAttr = ""
	}
	return map[string]any{"TimeToLiveSpecification": spec}, nil
}

func (s *Store) describeTimeToLive(in *tableNameInput) (any, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if t.ttlAttr != "" {
		d = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttlAttr}
	}
	return map[string]any{"TimeToLiveDescription": d}, nil
}
