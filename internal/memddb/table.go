package memddb

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"
)

// keyElement and attrDef are CreateTable's KeySchema and
// AttributeDefinitions entries.
type keyElement struct {
	AttributeName string
	KeyType       string
}

type attrDef struct {
	AttributeName string
	AttributeType string
}

// index is a secondary index: its key and (for describing it) its request.
type index struct {
	name   string
	keys   []keyElement
	global bool
	raw    map[string]any
}

// table is one table: its key schema and its items, by key.
type table struct {
	name     string
	created  time.Time
	keys     []keyElement // the partition key, then the sort key if any
	attrDefs []attrDef
	billing  string
	indexes  []index
	ttlAttr  string // "" while TTL is off
	items    map[string]Item
}

// maxItemBytes is DynamoDB's item size limit.
const maxItemBytes = 400 * 1024

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func (t *table) attrType(name string) string {
	for _, d := range t.attrDefs {
		if d.AttributeName == name {
			return d.AttributeType
		}
	}
	return ""
}

// keyOf returns the item's key string and its key attributes, checking
// them against the schema. what is "key" for a Key parameter (which must
// hold the key attributes only) and "item" for an item.
func (t *table) keyOf(it Item, isKey bool) (string, Item, error) {
	if isKey && len(it) != len(t.keys) {
		return "", nil, validation("The provided key element does not match the schema")
	}
	parts := make([]Value, 0, len(t.keys))
	keyItem := Item{}
	for _, k := range t.keys {
		v, ok := it[k.AttributeName]
		want := t.attrType(k.AttributeName)
		switch {
		case !ok && isKey, ok && v.T != want && isKey:
			return "", nil, validation("The provided key element does not match the schema")
		case !ok:
			return "", nil, validation("One or more parameter values were invalid: Missing the key %s in the item", k.AttributeName)
		case v.T != want:
			return "", nil, validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.AttributeName, want, v.T)
		case v.T == "S" && v.S == "":
			return "", nil, validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.AttributeName)
		case v.T == "B" && len(v.B) == 0:
			return "", nil, validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: %s", k.AttributeName)
		}
		keyItem[k.AttributeName] = v
		if v.T == "N" {
			// One key by value: 1 and 1.0 name the same item.
			v = Value{T: "N", S: formatNumber(num(v))}
		}
		parts = append(parts, v)
	}
	b, _ := json.Marshal(parts)
	return string(b), keyItem, nil
}

// checkItem refuses an item DynamoDB would not store: too large, or with
// an index key attribute of the wrong type.
func (t *table) checkItem(it Item, op string) error {
	if itemSize(it) > maxItemBytes {
		if op == "update" {
			return validation("Item size to update has exceeded the maximum allowed size")
		}
		return validation("Item size has exceeded the maximum allowed size")
	}
	for _, ix := range t.indexes {
		for _, k := range ix.keys {
			v, ok := it[k.AttributeName]
			if !ok {
				continue
			}
			if want := t.attrType(k.AttributeName); v.T != want {
				return validation("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", k.AttributeName, want, v.T, ix.name)
			}
		}
	}
	return nil
}

// sortedItems returns the items in key order: partition key, then sort key.
func (t *table) sortedItems(keys []keyElement) []Item {
	out := make([]Item, 0, len(t.items))
	for _, it := range t.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int { return compareKeys(a, b, keys) })
	return out
}

// compareKeys orders items by the key attributes of keys (an index's keys
// then the table's, for a stable order within an index).
func compareKeys(a, b Item, keys []keyElement) int {
	for _, k := range keys {
		av, bv := a[k.AttributeName], b[k.AttributeName]
		if c, ok := compare(av, bv); ok && c != 0 {
			return c
		}
		if av.T != bv.T {
			return strings.Compare(av.T, bv.T)
		}
	}
	return 0
}

// describe is the table's TableDescription.
func (t *table) describe(status string) map[string]any {
	size := 0
	for _, it := range t.items {
		size += itemSize(it)
	}
	d := map[string]any{
		"TableName":            t.name,
		"TableStatus":          status,
		"KeySchema":            t.keys,
		"AttributeDefinitions": t.attrDefs,
		"CreationDateTime":     float64(t.created.UnixMilli()) / 1000,
		"ItemCount":            len(t.items),
		"TableSizeBytes":       size,
		"TableArn":             "arn:aws:dynamodb:ddblocal:000000000000:table/" + t.name,
		"ProvisionedThroughput": map[string]any{
			"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0,
		},
		"BillingModeSummary":        map[string]any{"BillingMode": t.billing},
		"DeletionProtectionEnabled": false,
	}
	var gsis, lsis []map[string]any
	for _, ix := range t.indexes {
		m := map[string]any{}
		for k, v := range ix.raw {
			m[k] = v
		}
		m["IndexArn"] = "arn:aws:dynamodb:ddblocal:000000000000:table/" + t.name + "/index/" + ix.name
		m["ItemCount"], m["IndexSizeBytes"] = 0, 0
		if ix.global {
			m["IndexStatus"] = "ACTIVE"
			gsis = append(gsis, m)
		} else {
			lsis = append(lsis, m)
		}
	}
	if gsis != nil {
		d["GlobalSecondaryIndexes"] = gsis
	}
	if lsis != nil {
		d["LocalSecondaryIndexes"] = lsis
	}
	return d
}
