package memddb

import (
	"hash/fnv"
	"slices"
)

type readInput struct {
	exprInput
	TableName              string
	IndexName              string
	KeyConditionExpression *string
	FilterExpression       *string
	ProjectionExpression   *string
	Select                 string
	Limit                  int
	ExclusiveStartKey      Item
	ScanIndexForward       *bool
	ConsistentRead         bool
	Segment                *int
	TotalSegments          *int
}

// readPlan is a parsed Query or Scan.
type readPlan struct {
	t       *table
	keys    []keyElement // the keys items are ordered by: the index's, then the table's
	index   *index
	keyCond *cond
	filter  *cond
	proj    []path
}

func (s *Store) plan(in *readInput, isQuery bool) (*readPlan, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	p := &readPlan{t: t, keys: t.keys}
	if in.IndexName != "" {
		for i := range t.indexes {
			if t.indexes[i].name == in.IndexName {
				p.index = &t.indexes[i]
			}
		}
		if p.index == nil {
			return nil, validation("The table does not have the specified index: %s", in.IndexName)
		}
		p.keys = append(slices.Clone(p.index.keys), t.keys...)
	}
	if in.Limit < 0 {
		return nil, validation("Limit must be greater than or equal to 1")
	}
	if isQuery && in.KeyConditionExpression == nil {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	ph, err := in.placeholders(in.KeyConditionExpression != nil || in.FilterExpression != nil || in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	if in.KeyConditionExpression != nil {
		if !isQuery {
			return nil, validation("KeyConditionExpression is not allowed in a Scan")
		}
		if p.keyCond, err = parseCondition("KeyConditionExpression", *in.KeyConditionExpression, ph); err != nil {
			return nil, err
		}
		if err := p.checkKeyCondition(); err != nil {
			return nil, err
		}
	}
	if in.FilterExpression != nil {
		if p.filter, err = parseCondition("FilterExpression", *in.FilterExpression, ph); err != nil {
			return nil, err
		}
	}
	if in.ProjectionExpression != nil {
		if p.proj, err = parseProjection(*in.ProjectionExpression, ph); err != nil {
			return nil, err
		}
	}
	return p, ph.checkUnused()
}

// checkKeyCondition accepts what DynamoDB accepts: partition key = value,
// optionally AND one condition on the sort key.
func (p *readPlan) checkKeyCondition() error {
	keys := p.t.keys
	if p.index != nil {
		keys = p.index.keys
	}
	bad := validation("Query condition missed key schema element: %s", keys[0].AttributeName)
	onKey := func(c *cond, k keyElement) bool {
		return len(c.args) > 0 && c.args[0].kind == opPath && len(c.args[0].path) == 1 && c.args[0].path[0].name == k.AttributeName
	}
	isHash := func(c *cond) bool { return c.kind == cCompare && c.op == "=" && onKey(c, keys[0]) }
	isRange := func(c *cond) bool {
		if len(keys) < 2 || !onKey(c, keys[1]) {
			return false
		}
		switch c.kind {
		case cCompare:
			return c.op != "<>"
		case cBetween:
			return true
		case cFunc:
			return c.op == "begins_with"
		}
		return false
	}
	c := p.keyCond
	switch {
	case isHash(c):
		return nil
	case c.kind == cAnd && (isHash(c.subs[0]) && isRange(c.subs[1]) || isHash(c.subs[1]) && isRange(c.subs[0])):
		return nil
	}
	return bad
}

// run returns the page of items after start, at most limit evaluated, and
// the key to continue from.
func (p *readPlan) run(in *readInput, forward bool) (items []Item, scanned int, last Item, err error) {
	all := p.t.sortedItems(p.keys)
	if !forward {
		slices.Reverse(all)
	}
	started := in.ExclusiveStartKey == nil
	for _, it := range all {
		if p.index != nil && !hasAll(it, p.index.keys) {
			continue
		}
		if in.Segment != nil && in.TotalSegments != nil && *in.TotalSegments > 0 {
			k, _, _ := p.t.keyOf(it, false)
			h := fnv.New32a()
			h.Write([]byte(k))
			if int(h.Sum32()%uint32(*in.TotalSegments)) != *in.Segment {
				continue
			}
		}
		if p.keyCond != nil {
			ok, err := p.keyCond.eval(it)
			if err != nil {
				return nil, 0, nil, err
			}
			if !ok {
				continue
			}
		}
		if !started {
			c := compareKeys(it, in.ExclusiveStartKey, p.keys)
			if !forward {
				c = -c
			}
			if c <= 0 {
				continue
			}
			started = true
		}
		if in.Limit > 0 && scanned == in.Limit {
			return items, scanned, last, nil
		}
		scanned++
		last = Item{}
		for _, k := range p.keys {
			last[k.AttributeName] = it[k.AttributeName]
		}
		if p.filter != nil {
			ok, err := p.filter.eval(it)
			if err != nil {
				return nil, 0, nil, err
			}
			if !ok {
				continue
			}
		}
		items = append(items, project(cloneItem(it), p.proj))
	}
	return items, scanned, nil, nil
}

func hasAll(it Item, keys []keyElement) bool {
	for _, k := range keys {
		if _, ok := it[k.AttributeName]; !ok {
			return false
		}
	}
	return true
}

func (s *Store) query(in *readInput) (any, error) { return s.read(in, true) }
func (s *Store) scan(in *readInput) (any, error)  { return s.read(in, false) }

func (s *Store) read(in *readInput, isQuery bool) (any, error) {
	p, err := s.plan(in, isQuery)
	if err != nil {
		return nil, err
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	items, scanned, last, err := p.run(in, forward || !isQuery)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []Item{}
	}
	out := map[string]any{"Count": len(items), "ScannedCount": scanned}
	if in.Select != "COUNT" {
		out["Items"] = items
	}
	if last != nil {
		out["LastEvaluatedKey"] = last
	}
	return out, nil
}
