package lockitem

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A lock ID with N > 1 permits (lock.WithPermits) keeps its holders in one
// item, beside the single lease's attributes, which it does not use:
//
//	Permits       N: how many holders the ID admits at once
//	Holders       M: lease ID → M{Owner, ExpiresAt, AcquiredAt, Granted,
//	                 Host, RequestId, Metadata}, one entry per holder
//	PermitTokens  M: lease ID → N, each holder's fencing token
//	Token         N: the ID's counter, shared with the single lease's, so
//	                 tokens increase across both kinds of use
//	ForcedLease, ForceCount, TTL: as for a single lease
//
// A holder's token sits in its own map because DynamoDB cannot compute a
// value inside a map literal: the acquire sets PermitTokens.<lease> from
// the counter in the same update.
const (
	AttrPermits      = "Permits"      // N: permits of the ID
	AttrHolders      = "Holders"      // M: lease ID → holder entry
	AttrPermitTokens = "PermitTokens" // M: lease ID → fencing token
	AttrGranted      = "Granted"      // N, in a holder entry: the TTL it asked for, milliseconds
)

// PermitHolder is one holder of a permit, as its entry stores it.
type PermitHolder struct {
	Holder
	// Granted is the lease length the holder asked for (its TTL).
	Granted  time.Duration
	Metadata map[string]string
}

// Permits is a permit item as read from the table.
type Permits struct {
	// N is the stored number of permits; 0 when the item has none (no item,
	// or a single lease's item).
	N int64
	// Holders are the entries, by lease ID. HasHolders says whether the
	// item has the Holders map at all (an empty one included).
	Holders    map[string]PermitHolder
	HasHolders bool
	// Token is the ID's counter: the latest token handed out.
	Token       int64
	ForcedLease string
	ForceCount  int64
	// Single is the single lease's record (lock IDs used with one
	// permit) when the item has one: LeaseID is not empty.
	Single Record
}

// Sorted returns the holders ordered by the end of their lease, earliest
// first, then by lease ID.
func (p Permits) Sorted() []PermitHolder {
	hs := make([]PermitHolder, 0, len(p.Holders))
	for _, h := range p.Holders {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool {
		if !hs[i].ExpiresAt.Equal(hs[j].ExpiresAt) {
			return hs[i].ExpiresAt.Before(hs[j].ExpiresAt)
		}
		return hs[i].LeaseID < hs[j].LeaseID
	})
	return hs
}

// ParsePermits decodes the permit attributes of an item of the seed's
// table (Default.ParsePermits). An empty item (none stored) gives the zero
// Permits.
func ParsePermits(item map[string]types.AttributeValue) (Permits, error) {
	return Default.ParsePermits(item)
}

// ParsePermits decodes the permit attributes of an item of a table of
// shape s, as the function ParsePermits does.
func (s Shape) ParsePermits(item map[string]types.AttributeValue) (Permits, error) {
	var p Permits
	if len(item) == 0 {
		return p, nil
	}
	var err error
	if p.N, err = num(item, AttrPermits); err != nil {
		return p, err
	}
	if p.Token, err = num(item, AttrToken); err != nil {
		return p, err
	}
	if p.ForceCount, err = num(item, AttrForceCount); err != nil {
		return p, err
	}
	p.ForcedLease = str(item, AttrForcedLease)
	if str(item, AttrLease) != "" {
		if p.Single, err = s.Parse(item); err != nil {
			return p, err
		}
	}
	hm, ok := item[AttrHolders].(*types.AttributeValueMemberM)
	if !ok {
		return p, nil
	}
	p.HasHolders = true
	tokens, _ := item[AttrPermitTokens].(*types.AttributeValueMemberM)
	p.Holders = make(map[string]PermitHolder, len(hm.Value))
	for lease, v := range hm.Value {
		e, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return p, fmt.Errorf("lock: holder %q of a permit item is not a map", lease)
		}
		h, err := parseHolder(lease, e.Value)
		if err != nil {
			return p, err
		}
		if tokens != nil {
			if h.Token, err = num(tokens.Value, lease); err != nil {
				return p, err
			}
		}
		p.Holders[lease] = h
	}
	return p, nil
}

func parseHolder(lease string, e map[string]types.AttributeValue) (PermitHolder, error) {
	h := PermitHolder{Holder: Holder{LeaseID: lease, Owner: str(e, AttrOwner), Host: str(e, AttrHost), RequestID: str(e, AttrRequestID)}}
	for _, f := range []struct {
		attr string
		dst  *time.Time
	}{{AttrExpiresAt, &h.ExpiresAt}, {AttrAcquiredAt, &h.AcquiredAt}} {
		n, err := num(e, f.attr)
		if err != nil {
			return h, err
		}
		if n != 0 {
			*f.dst = time.UnixMilli(n)
		}
	}
	g, err := num(e, AttrGranted)
	if err != nil {
		return h, err
	}
	h.Granted = time.Duration(g) * time.Millisecond
	if m, ok := e[AttrMetadata].(*types.AttributeValueMemberM); ok {
		h.Metadata = make(map[string]string, len(m.Value))
		for k, v := range m.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				h.Metadata[k] = s.Value
			}
		}
	}
	return h, nil
}
