package memddb

// exprInput is what every request with expressions carries.
type exprInput struct {
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]Value
	// The legacy parameters, which the double does not support.
	Expected         map[string]any
	AttributeUpdates map[string]any
	AttributesToGet  []string
	ScanFilter       map[string]any
	QueryFilter      map[string]any
	KeyConditions    map[string]any
}

// placeholders checks the request's placeholder maps and returns them for
// parsing; anyExpr says whether the request has an expression at all.
func (in *exprInput) placeholders(anyExpr bool) (*placeholders, error) {
	if in.Expected != nil || in.AttributeUpdates != nil || in.AttributesToGet != nil || in.ScanFilter != nil ||
		in.QueryFilter != nil || in.KeyConditions != nil {
		return nil, validation("The in-memory DynamoDB supports expressions only, not the legacy parameters (Expected, AttributeUpdates, AttributesToGet, ScanFilter, QueryFilter, KeyConditions)")
	}
	if in.ExpressionAttributeNames != nil && len(in.ExpressionAttributeNames) == 0 {
		return nil, validation("ExpressionAttributeNames must not be empty")
	}
	if in.ExpressionAttributeValues != nil && len(in.ExpressionAttributeValues) == 0 {
		return nil, validation("ExpressionAttributeValues must not be empty")
	}
	if !anyExpr && in.ExpressionAttributeNames != nil {
		return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	if !anyExpr && in.ExpressionAttributeValues != nil {
		return nil, validation("ExpressionAttributeValues can only be specified when using expressions")
	}
	return newPlaceholders(in.ExpressionAttributeNames, in.ExpressionAttributeValues), nil
}

// writeOp is one checked, parsed write: a PutItem, UpdateItem or
// DeleteItem, or a transaction's action (ConditionCheck too).
type writeOp struct {
	t       *table
	kind    string // "put", "update", "delete", "check"
	key     string
	keyItem Item
	cond    *cond
	item    Item    // put
	upd     *update // update
	allOld  bool    // ReturnValuesOnConditionCheckFailure ALL_OLD
}

// writeInput is the union of the write requests' members.
type writeInput struct {
	exprInput
	TableName                           string
	Key                                 Item
	Item                                Item
	ConditionExpression                 *string
	UpdateExpression                    *string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
}

// prepare checks and parses a write of kind.
func (s *Store) prepare(kind string, in *writeInput) (*writeOp, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	w := &writeOp{t: t, kind: kind}
	switch in.ReturnValuesOnConditionCheckFailure {
	case "", "NONE":
	case "ALL_OLD":
		w.allOld = true
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", in.ReturnValuesOnConditionCheckFailure)
	}
	if kind == "put" {
		if in.Item == nil {
			return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
		}
		w.key, w.keyItem, err = t.keyOf(in.Item, false)
		if err == nil {
			err = t.checkItem(in.Item, "put")
		}
		w.item = in.Item
	} else {
		if in.Key == nil {
			return nil, validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
		}
		w.key, w.keyItem, err = t.keyOf(in.Key, true)
	}
	if err != nil {
		return nil, err
	}
	hasUpdate := in.UpdateExpression != nil
	if hasUpdate && kind != "update" {
		return nil, validation("UpdateExpression is not allowed in a %s", kind)
	}
	ph, err := in.placeholders(in.ConditionExpression != nil || hasUpdate)
	if err != nil {
		return nil, err
	}
	if in.ConditionExpression != nil {
		if w.cond, err = parseCondition("ConditionExpression", *in.ConditionExpression, ph); err != nil {
			return nil, err
		}
	} else if kind == "check" {
		return nil, validation("1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null")
	}
	if kind == "update" && hasUpdate {
		if w.upd, err = parseUpdate(*in.UpdateExpression, ph); err != nil {
			return nil, err
		}
		if err := w.checkKeyUpdate(); err != nil {
			return nil, err
		}
	}
	if kind == "update" && !hasUpdate {
		w.upd = &update{}
	}
	return w, ph.checkUnused()
}

// checkKeyUpdate refuses an update of a key attribute.
func (w *writeOp) checkKeyUpdate() error {
	var paths []path
	for _, a := range w.upd.set {
		paths = append(paths, a.path)
	}
	paths = append(paths, w.upd.remove...)
	for _, a := range append(w.upd.add, w.upd.del...) {
		paths = append(paths, a.path)
	}
	for _, p := range paths {
		if _, isKey := w.keyItem[p[0].name]; isKey && !p[0].isIndex {
			return validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", p[0].name)
		}
	}
	return nil
}

// run evaluates the write on the current item: the condition, then the
// new item (nil for a delete or a missing item after a check). It changes
// nothing.
func (w *writeOp) run() (old, next Item, err error) {
	old = w.t.items[w.key]
	if w.cond != nil {
		subject := old
		if subject == nil {
			subject = Item{}
		}
		ok, err := w.cond.eval(subject)
		if err != nil {
			return old, nil, err
		}
		if !ok {
			e := conditionFailed(nil)
			if w.allOld && old != nil {
				e.Item = cloneItem(old)
			}
			return old, nil, e
		}
	}
	switch w.kind {
	case "put":
		next = cloneItem(w.item)
	case "update":
		base := old
		if base == nil {
			base = w.keyItem
		}
		if next, err = w.upd.apply(base); err != nil {
			return old, nil, err
		}
		if err := w.t.checkItem(next, "update"); err != nil {
			return old, nil, err
		}
	case "check":
		next = old
	}
	return old, next, nil
}

// commit stores the outcome of run.
func (w *writeOp) commit(next Item) {
	if w.kind == "check" {
		return
	}
	if next == nil {
		delete(w.t.items, w.key)
		return
	}
	w.t.items[w.key] = next
}

func (s *Store) putItem(in *writeInput) (any, error) {
	return s.write("put", in, "NONE", "ALL_OLD")
}

func (s *Store) deleteItem(in *writeInput) (any, error) {
	return s.write("delete", in, "NONE", "ALL_OLD")
}

func (s *Store) updateItem(in *writeInput) (any, error) {
	return s.write("update", in, "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
}

// write runs one PutItem, UpdateItem or DeleteItem.
func (s *Store) write(kind string, in *writeInput, allowed ...string) (any, error) {
	rv := in.ReturnValues
	if rv == "" {
		rv = "NONE"
	}
	ok := false
	for _, a := range allowed {
		ok = ok || rv == a
	}
	if !ok {
		return nil, validation("Return values set to invalid value")
	}
	w, err := s.prepare(kind, in)
	if err != nil {
		return nil, err
	}
	old, next, err := w.run()
	if err != nil {
		return nil, err
	}
	w.commit(next)
	out := map[string]any{}
	var attrs Item
	switch rv {
	case "ALL_OLD":
		attrs = old
	case "ALL_NEW":
		attrs = next
	case "UPDATED_OLD", "UPDATED_NEW":
		src := old
		if rv == "UPDATED_NEW" {
			src = next
		}
		attrs = project(src, w.upd.paths())
	}
	if len(attrs) > 0 {
		out["Attributes"] = attrs
	}
	return out, nil
}

// paths are the paths an update writes.
func (u *update) paths() []path {
	out := []path{}
	for _, a := range u.set {
		out = append(out, a.path)
	}
	out = append(out, u.remove...)
	for _, a := range append(u.add, u.del...) {
		out = append(out, a.path)
	}
	return out
}

type getItemInput struct {
	exprInput
	TableName            string
	Key                  Item
	ProjectionExpression *string
	ConsistentRead       bool
}

func (s *Store) getItem(in *getItemInput) (any, error) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	key, _, err := t.keyOf(in.Key, true)
	if err != nil {
		return nil, err
	}
	proj, err := projection(&in.exprInput, in.ProjectionExpression)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if it, ok := t.items[key]; ok {
		out["Item"] = project(it, proj)
	}
	return out, nil
}

// projection parses a read's ProjectionExpression and checks its
// placeholders (the expression is its only one).
func projection(in *exprInput, expr *string) ([]path, error) {
	ph, err := in.placeholders(expr != nil)
	if err != nil {
		return nil, err
	}
	if expr == nil {
		return nil, ph.checkUnused()
	}
	paths, err := parseProjection(*expr, ph)
	if err != nil {
		return nil, err
	}
	return paths, ph.checkUnused()
}
