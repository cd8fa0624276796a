package memddb

import (
	"encoding/json"
	"strings"
	"time"
)

type transactWriteInput struct {
	TransactItems []struct {
		ConditionCheck *writeInput
		Put            *writeInput
		Delete         *writeInput
		Update         *writeInput
	}
	ClientRequestToken string
}

// maxTransactItems is DynamoDB's limit on a transaction's actions.
const maxTransactItems = 100

// transactWriteItems runs a transaction: every action's condition holds
// and every action is written, or none is and the reasons say why.
func (s *Store) transactWriteItems(body []byte) (any, error) {
	in := new(transactWriteInput)
	if err := decode(body, in); err != nil {
		return nil, err
	}
	n := len(in.TransactItems)
	if n == 0 || n > maxTransactItems {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", maxTransactItems)
	}
	request := canonicalRequest(body)
	if in.ClientRequestToken != "" {
		s.expireTokens()
		if e, ok := s.tokens[in.ClientRequestToken]; ok {
			if e.request != request {
				return nil, &Error{Type: "IdempotentParameterMismatchException", Message: "Specified idempotent token was used with different request parameters"}
			}
			return map[string]any{}, nil
		}
	}
	ops := make([]*writeOp, n)
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		var kind string
		var w *writeInput
		count := 0
		for _, c := range []struct {
			kind string
			in   *writeInput
		}{{"check", ti.ConditionCheck}, {"put", ti.Put}, {"delete", ti.Delete}, {"update", ti.Update}} {
			if c.in != nil {
				kind, w = c.kind, c.in
				count++
			}
		}
		if count != 1 {
			return nil, validation("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		if w.ReturnValues != "" {
			return nil, validation("ReturnValues is not allowed in a transaction's actions")
		}
		op, err := s.prepare(kind, w)
		if err != nil {
			return nil, err
		}
		id := op.t.name + "\x00" + op.key
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		ops[i] = op
	}
	nexts := make([]Item, n)
	reasons := make([]Reason, n)
	failed := false
	for i, op := range ops {
		_, next, err := op.run()
		reasons[i] = Reason{Code: "None"}
		if err != nil {
			failed = true
			e := asError(err)
			if e == nil || e.Type != "ConditionalCheckFailedException" {
				// An update that cannot apply (a wrong type) refuses the
				// whole request, as DynamoDB Local does, rather than
				// cancelling with a ValidationError reason.
				return nil, err
			}
			reasons[i] = Reason{Code: "ConditionalCheckFailed", Message: e.Message, Item: e.Item}
		}
		nexts[i] = next
	}
	if failed {
		codes := make([]string, n)
		for i, r := range reasons {
			codes[i] = r.Code
		}
		return nil, &Error{
			Type:    "TransactionCanceledException",
			Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
			Reasons: reasons,
		}
	}
	for i, op := range ops {
		op.commit(nexts[i])
	}
	if in.ClientRequestToken != "" {
		s.tokens[in.ClientRequestToken] = tokenEntry{request: request, at: time.Now()}
	}
	return map[string]any{}, nil
}

// canonicalRequest is the request without its token, in a canonical
// form, to compare a retry with the original.
func canonicalRequest(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return string(body)
	}
	delete(m, "ClientRequestToken")
	delete(m, "ReturnConsumedCapacity")
	delete(m, "ReturnItemCollectionMetrics")
	b, _ := json.Marshal(m)
	return string(b)
}

func (s *Store) expireTokens() {
	for k, e := range s.tokens {
		if time.Since(e.at) > tokenLifetime {
			delete(s.tokens, k)
		}
	}
}

type transactGetInput struct {
	TransactItems []struct {
		Get *getItemInput
	}
}

func (s *Store) transactGetItems(in *transactGetInput) (any, error) {
	if len(in.TransactItems) == 0 || len(in.TransactItems) > maxTransactItems {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", maxTransactItems)
	}
	responses := make([]map[string]any, 0, len(in.TransactItems))
	for _, ti := range in.TransactItems {
		if ti.Get == nil {
			return nil, validation("TransactItems can only contain Get")
		}
		out, err := s.getItem(ti.Get)
		if err != nil {
			return nil, err
		}
		responses = append(responses, out.(map[string]any))
	}
	return map[string]any{"Responses": responses}, nil
}

type batchGetInput struct {
	RequestItems map[string]*struct {
		exprInput
		Keys                 []Item
		ProjectionExpression *string
		ConsistentRead       bool
	}
}

func (s *Store) batchGetItem(in *batchGetInput) (any, error) {
	total := 0
	responses := map[string][]Item{}
	for name, req := range in.RequestItems {
		t, err := s.table(name)
		if err != nil {
			return nil, err
		}
		proj, err := projection(&req.exprInput, req.ProjectionExpression)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		items := []Item{}
		for _, k := range req.Keys {
			total++
			key, _, err := t.keyOf(k, true)
			if err != nil {
				return nil, err
			}
			if seen[key] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[key] = true
			if it, ok := t.items[key]; ok {
				items = append(items, project(it, proj))
			}
		}
		responses[name] = items
	}
	if total == 0 || total > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	return map[string]any{"Responses": responses, "UnprocessedKeys": map[string]any{}}, nil
}

type batchWriteInput struct {
	RequestItems map[string][]struct {
		PutRequest    *struct{ Item Item }
		DeleteRequest *struct{ Key Item }
	}
}

func (s *Store) batchWriteItem(in *batchWriteInput) (any, error) {
	var ops []*writeOp
	seen := map[string]bool{}
	for name, reqs := range in.RequestItems {
		for _, r := range reqs {
			w := &writeInput{TableName: name}
			kind := "delete"
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				kind, w.Item = "put", r.PutRequest.Item
			case r.DeleteRequest != nil && r.PutRequest == nil:
				w.Key = r.DeleteRequest.Key
			default:
				return nil, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			op, err := s.prepare(kind, w)
			if err != nil {
				return nil, err
			}
			id := name + "\x00" + op.key
			if seen[id] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 || len(ops) > 25 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
	}
	for _, op := range ops {
		_, next, err := op.run()
		if err != nil {
			return nil, err
		}
		op.commit(next)
	}
	return map[string]any{"UnprocessedItems": map[string]any{}}, nil
}
