package history_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// TestLoad writes a small run as the driver and a worker would, the
// worker killed mid-section with its last line cut short, and reads it
// back.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ns := func(ms int64) int64 {
		return time.Unix(1_800_000_000, 0).Add(time.Duration(ms) * time.Millisecond).UnixNano()
	}
	record := func(file string, events ...history.Event) {
		rec, err := history.Create(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			rec.Record(e)
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
	record(history.DriverFile,
		history.Event{Kind: history.KindRun, Time: ns(0), Run: &history.Run{LockIDs: []string{"L"}, Tolerance: 100 * time.Millisecond}},
		history.Event{Kind: history.KindSpawn, Time: ns(0), Worker: 7, Offset: int64(-5 * time.Millisecond)},
		history.Event{Kind: history.KindKill, Time: ns(90), Worker: 7, Reason: "random"},
		history.Event{Kind: history.KindEnd, Time: ns(91), Worker: 7, Code: -1},
	)
	record(history.WorkerFile(7),
		history.Event{Kind: history.KindWorker, Time: ns(1)},
		history.Event{Kind: history.KindCall, Time: ns(10), Lock: "L"},
		history.Event{Kind: history.KindHTTP, Time: ns(11), Op: "UpdateItem", Fault: "throttle", Delayed: true},
		history.Event{Kind: history.KindLockOp, Time: ns(20), Lock: "L", Op: "acquire", Result: history.ResultOK, Lease: "x", Token: 3},
		history.Event{Kind: history.KindEnter, Time: ns(21), Lock: "L", Lease: "x", Token: 3, Deadline: ns(321), ExpiresAt: 1_800_000_000_420, TTL: 400},
		history.Event{Kind: history.KindWrite, Time: ns(40), Start: ns(30), Lock: "L", Token: 3, Result: history.ResultOK},
	)
	f, err := os.OpenFile(filepath.Join(dir, history.WorkerFile(7)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"k":"exit","t":`) // the kill came mid-write
	f.Close()
	b, _ := json.Marshal(history.Final{At: time.Unix(0, ns(2000))})
	os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)

	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) != 0 {
		t.Fatalf("problems: %v", h.Problems)
	}
	w := h.Workers[7]
	if w == nil || w.Offset != -5*time.Millisecond || !w.KilledAt.Equal(time.Unix(0, ns(90))) {
		t.Fatalf("worker 7 = %+v", w)
	}
	if len(h.Sections) != 1 {
		t.Fatalf("%d sections, want 1", len(h.Sections))
	}
	s := h.Sections[0]
	if s.Token != 3 || s.EndBy != "kill" || !s.End.Equal(w.KilledAt) || !s.Crashed() || s.Write == nil || s.Write.Result != history.ResultOK {
		t.Errorf("section = %+v, want token 3 ended by the kill at %s with its write", s, w.KilledAt)
	}
	if !s.ExpiresAt.Equal(time.UnixMilli(1_800_000_000_420)) || s.TTL != 400*time.Millisecond {
		t.Errorf("section's lease: ends %s, TTL %s", s.ExpiresAt, s.TTL)
	}
	if len(h.Calls) != 1 || h.Calls[0].Result != "acquired" || len(h.Grants) != 1 {
		t.Errorf("calls %+v, grants %+v", h.Calls, h.Grants)
	}
	if h.Faults["throttle"] != 1 || h.Faults["delay"] != 1 || h.Requests["UpdateItem"] != 1 || h.LockOps["acquire/ok"] != 1 {
		t.Errorf("counts: faults %v, requests %v, lock ops %v", h.Faults, h.Requests, h.LockOps)
	}
}
