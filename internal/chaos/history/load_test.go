package history_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// TestLoadEvidence: what the items in answers say about earlier leases is
// linked to their sections: a force-release that went through (even one
// whose operator died before its answer), a release by the holder, the
// acquire's answer, and the latest end the holder's requests asked for.
func TestLoadEvidence(t *testing.T) {
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
		history.Event{Kind: history.KindSpawn, Time: ns(0), Worker: 1},
		history.Event{Kind: history.KindSpawn, Time: ns(0), Worker: 2},
		history.Event{Kind: history.KindKill, Time: ns(500), Worker: 2, Reason: "random"},
		history.Event{Kind: history.KindEnd, Time: ns(900), Worker: 1},
		history.Event{Kind: history.KindEnd, Time: ns(501), Worker: 2, Code: -1},
	)
	section := func(call int, lease string, tok int64, enter int64, res string) []history.Event {
		return []history.Event{
			{Kind: history.KindCall, Time: ns(enter - 5), Call: call, Path: history.PathDo, Locks: []string{"L"}},
			{Kind: history.KindLockOp, Time: ns(enter - 1), Lock: "L", Op: history.OpAcquire, Result: history.ResultOK, Lease: lease, Token: tok, ExpiresAt: 1_800_000_000_000 + enter + 400},
			{Kind: history.KindEnter, Time: ns(enter), Call: call, Path: history.PathDo, Lock: "L", Lease: lease, Token: tok, Deadline: ns(enter + 300), CtxDl: ns(enter + 300)},
			{Kind: history.KindExit, Time: ns(enter + 50), Call: call, Lock: "L", Lease: lease, Deadline: ns(enter + 300)},
			{Kind: history.KindDone, Time: ns(enter + 60), Call: call, Lock: "L", Lease: lease, Result: res},
		}
	}
	var w1 []history.Event
	w1 = append(w1, section(1, "a", 10, 10, history.ResultReleased)...)
	w1 = append(w1, section(2, "b", 11, 100, history.ResultLost)...)
	w1 = append(w1,
		history.Event{Kind: history.KindHTTP, Time: ns(120), Op: "UpdateItem", LockOp: history.OpExtend, Lock: "L", Lease: "b", ExpiresAt: 1_800_000_000_900},
		history.Event{Kind: history.KindLockOp, Time: ns(200), Lock: "L", Op: history.OpAcquire, Result: history.ResultRefused, Lease: "x", Token: 12, RelLease: "b", Forced: "a"},
	)
	w1 = append(w1, section(3, "c", 13, 300, "")...)
	w1 = w1[:len(w1)-1] // c's holder is still releasing when the run ends…
	record(history.WorkerFile(1), append([]history.Event{{Kind: history.KindWorker, Time: ns(1)}}, w1...)...)
	record(history.WorkerFile(2),
		history.Event{Kind: history.KindWorker, Time: ns(1)},
		history.Event{Kind: history.KindForce, Time: ns(40), Start: ns(30), Lock: "L", Lease: "a", Token: 10, Result: history.ResultOK},
		// … an operator force-releases it and dies before the answer.
		history.Event{Kind: history.KindHTTP, Time: ns(320), Op: "UpdateItem", LockOp: history.OpForce, Lock: "L", Lease: "c", Token: 13},
	)
	b, _ := json.Marshal(history.Final{At: time.Unix(0, ns(2000)), Locks: map[string]history.LockState{
		"L": {Exists: true, LeaseID: "c", Token: 13, Released: true, RelLease: "c", ForcedLease: "c"},
	}})
	os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)

	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) != 0 {
		t.Fatalf("problems: %v", h.Problems)
	}
	secs := map[string]*history.Section{}
	for _, s := range h.Sections {
		secs[s.Lease] = s
	}
	if a := secs["a"]; a.Forced == nil || !a.Forced.Start.Equal(time.Unix(0, ns(30))) || a.ReleasedByHolder || a.Granted == nil || a.Granted.Token != 10 {
		t.Errorf("lease a: forced %+v, released by holder %v, granted %+v; want the force sent at 30 ms", a.Forced, a.ReleasedByHolder, a.Granted)
	}
	if b := secs["b"]; b.Forced != nil || !b.ReleasedByHolder || !b.MaxExp.Equal(time.UnixMilli(1_800_000_000_900)) || b.Release != history.ResultLost {
		t.Errorf("lease b: forced %+v, released by holder %v, max end %s", b.Forced, b.ReleasedByHolder, b.MaxExp)
	}
	if c := secs["c"]; c.Forced == nil || !c.Forced.Landed || !c.Forced.Start.Equal(time.Unix(0, ns(320))) {
		t.Errorf("lease c: forced %+v; want the dead operator's force, sent at 320 ms", c.Forced)
	}
	if len(h.Sightings) != 5 || h.LockRequests[history.OpExtend] != 1 || h.LockRequests[history.OpForce] != 1 {
		t.Errorf("sightings %v, lock requests %v", h.Sightings, h.LockRequests)
	}
}

// TestLoadStoredEnds: the lease ends that a section's acquire and extends
// stored (their answers said they went through) are linked to it, in the
// order the answers came, and a refused extend's is not; a holder that
// paused is gone when fn returned, one that asked to be killed when it
// died.
func TestLoadStoredEnds(t *testing.T) {
	dir := t.TempDir()
	ns := func(ms int64) int64 {
		return time.Unix(1_800_000_000, 0).Add(time.Duration(ms) * time.Millisecond).UnixNano()
	}
	ms := func(ms int64) int64 { return 1_800_000_000_000 + ms }
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
		history.Event{Kind: history.KindSpawn, Time: ns(0), Worker: 1},
		history.Event{Kind: history.KindKill, Time: ns(2000), Worker: 1, Reason: "requested"},
		history.Event{Kind: history.KindEnd, Time: ns(2001), Worker: 1, Code: -1},
	)
	record(history.WorkerFile(1),
		history.Event{Kind: history.KindWorker, Time: ns(1)},
		history.Event{Kind: history.KindCall, Time: ns(5), Call: 1, Path: history.PathDo, Locks: []string{"L"}},
		history.Event{Kind: history.KindLockOp, Time: ns(9), Start: ns(6), Lock: "L", Op: history.OpAcquire, Result: history.ResultOK, Req: "a", Lease: "a", Token: 10, ExpiresAt: ms(406), ReqExp: ms(406)},
		history.Event{Kind: history.KindEnter, Time: ns(10), Call: 1, Path: history.PathDo, Lock: "L", Lease: "a", Token: 10, Deadline: ns(306), CtxDl: ns(306)},
		history.Event{Kind: history.KindLockOp, Time: ns(22), Start: ns(20), Lock: "L", Op: history.OpExtend, Result: history.ResultOK, Req: "a", ReqExp: ms(170)},
		history.Event{Kind: history.KindLockOp, Time: ns(32), Start: ns(30), Lock: "L", Op: history.OpExtend, Result: history.ResultRefused, Req: "a", ReqExp: ms(130), Lease: "a", Token: 10},
		history.Event{Kind: history.KindPause, Time: ns(40), Call: 1},
		history.Event{Kind: history.KindLate, Time: ns(900), Start: ns(890), Call: 1, Lock: "L", Token: 10, Result: history.ResultRefused},
		history.Event{Kind: history.KindExit, Time: ns(901), Call: 1, Lock: "L", Lease: "a", Deadline: ns(306)},
		history.Event{Kind: history.KindDone, Time: ns(910), Call: 1, Lock: "L", Lease: "a", Result: history.ResultLost},
		history.Event{Kind: history.KindCall, Time: ns(1000), Call: 2, Path: history.PathDo, Locks: []string{"L"}},
		history.Event{Kind: history.KindLockOp, Time: ns(1009), Start: ns(1006), Lock: "L", Op: history.OpAcquire, Result: history.ResultOK, Req: "b", Lease: "b", Token: 11, ExpiresAt: ms(1406), ReqExp: ms(1406)},
		history.Event{Kind: history.KindEnter, Time: ns(1010), Call: 2, Path: history.PathDo, Lock: "L", Lease: "b", Token: 11, Deadline: ns(1306), CtxDl: ns(1306)},
		history.Event{Kind: history.KindKillMe, Time: ns(1020), Call: 2},
	)
	b, _ := json.Marshal(history.Final{At: time.Unix(0, ns(3000))})
	os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)

	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) != 0 {
		t.Fatalf("problems: %v", h.Problems)
	}
	if len(h.Sections) != 2 {
		t.Fatalf("%d sections, want 2", len(h.Sections))
	}
	a, bs := h.Sections[0], h.Sections[1]
	want := []history.StoredEnd{
		{Op: history.OpAcquire, Sent: time.Unix(0, ns(6)), At: time.Unix(0, ns(9)), End: time.UnixMilli(ms(406))},
		{Op: history.OpExtend, Sent: time.Unix(0, ns(20)), At: time.Unix(0, ns(22)), End: time.UnixMilli(ms(170))},
	}
	if len(a.Stored) != len(want) {
		t.Fatalf("lease a's stored ends %+v, want %+v", a.Stored, want)
	}
	for i := range want {
		if g, w := a.Stored[i], want[i]; g.Op != w.Op || !g.Sent.Equal(w.Sent) || !g.At.Equal(w.At) || !g.End.Equal(w.End) {
			t.Errorf("lease a's stored end %d = %+v, want %+v", i, g, w)
		}
	}
	if a.EndBy != "pause" || !a.End.Equal(time.Unix(0, ns(40))) || !a.Gone.Equal(time.Unix(0, ns(901))) {
		t.Errorf("lease a: ended %s by %s, gone %s; want paused at 40 ms, gone at 901 ms", a.End, a.EndBy, a.Gone)
	}
	if bs.EndBy != "killme" || !bs.Gone.Equal(time.Unix(0, ns(2000))) || len(bs.Stored) != 1 {
		t.Errorf("lease b: ended by %s, gone %s, stored %+v; want killme, gone at its kill (2000 ms), one stored end", bs.EndBy, bs.Gone, bs.Stored)
	}
}

// TestLoadTermedAtStart: a worker asked to stop while it was still
// starting dies of the signal (exit code -1) before it records anything:
// not a failure. One that dies so without being asked is.
func TestLoadTermedAtStart(t *testing.T) {
	dir := t.TempDir()
	ns := func(ms int64) int64 {
		return time.Unix(1_800_000_000, 0).Add(time.Duration(ms) * time.Millisecond).UnixNano()
	}
	rec, err := history.Create(filepath.Join(dir, history.DriverFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []history.Event{
		{Kind: history.KindRun, Time: ns(0), Run: &history.Run{LockIDs: []string{"L"}, Tolerance: 100 * time.Millisecond}},
		{Kind: history.KindSpawn, Time: ns(0), Worker: 1},
		{Kind: history.KindSpawn, Time: ns(0), Worker: 2},
		{Kind: history.KindTerm, Time: ns(10), Worker: 1},
		{Kind: history.KindEnd, Time: ns(700), Worker: 1, Code: -1},
		{Kind: history.KindEnd, Time: ns(700), Worker: 2, Code: -1},
	} {
		rec.Record(e)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(history.Final{At: time.Unix(0, ns(2000))})
	os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)
	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "worker 2 failed") {
		t.Errorf("problems %q, want worker 2's failure only", h.Problems)
	}
}

// TestLoadSharedLeaseID: a lease of two lock IDs has one lease ID (the
// v0.1 API), and what the history says of it is kept per lock: the
// operator's force of the lease on one lock, the holder's release on the
// other, the extends and the stored ends of each, and one section per
// lock with its own token.
func TestLoadSharedLeaseID(t *testing.T) {
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
		history.Event{Kind: history.KindRun, Time: ns(0), Run: &history.Run{LockIDs: []string{"A", "B"}, Tolerance: 100 * time.Millisecond}},
		history.Event{Kind: history.KindSpawn, Time: ns(0), Worker: 1},
		history.Event{Kind: history.KindEnd, Time: ns(900), Worker: 1},
	)
	const exp = 1_800_000_000_400
	record(history.WorkerFile(1),
		history.Event{Kind: history.KindWorker, Time: ns(1)},
		history.Event{Kind: history.KindCall, Time: ns(5), Call: 1, Path: history.PathDoAll, Locks: []string{"A", "B"}},
		history.Event{Kind: history.KindHTTP, Time: ns(6), Op: "UpdateItem", LockOp: history.OpAcquire, Lock: "A", Lease: "x", ExpiresAt: exp},
		history.Event{Kind: history.KindHTTP, Time: ns(6), Op: "UpdateItem", LockOp: history.OpAcquire, Lock: "B", Lease: "x", ExpiresAt: exp},
		history.Event{Kind: history.KindLockOp, Time: ns(9), Start: ns(6), Lock: "A", Op: history.OpAcquire, Result: history.ResultOK, Lease: "x", Req: "x", Token: 3, ExpiresAt: exp, ReqExp: exp},
		history.Event{Kind: history.KindLockOp, Time: ns(9), Start: ns(6), Lock: "B", Op: history.OpAcquire, Result: history.ResultOK, Lease: "x", Req: "x", Token: 3, ExpiresAt: exp, ReqExp: exp},
		history.Event{Kind: history.KindEnter, Time: ns(10), Call: 1, Path: history.PathDoAll, Lock: "A", Lease: "x", Token: 3, Deadline: ns(300), CtxDl: ns(300), ExpiresAt: exp},
		history.Event{Kind: history.KindEnter, Time: ns(10), Call: 1, Path: history.PathDoAll, Lock: "B", Lease: "x", Token: 3, Deadline: ns(300), CtxDl: ns(300), ExpiresAt: exp},
		// The holder's extend of the lease: both items.
		history.Event{Kind: history.KindHTTP, Time: ns(20), Op: "UpdateItem", LockOp: history.OpExtend, Lock: "A", Lease: "x", ExpiresAt: exp + 100},
		history.Event{Kind: history.KindHTTP, Time: ns(20), Op: "UpdateItem", LockOp: history.OpExtend, Lock: "B", Lease: "x", ExpiresAt: exp + 200},
		history.Event{Kind: history.KindExtend, Time: ns(25), Start: ns(20), Call: 1, Lock: "A", Lease: "x", TTL: 500, Result: history.ResultOK},
		history.Event{Kind: history.KindExtend, Time: ns(25), Start: ns(20), Call: 1, Lock: "B", Lease: "x", TTL: 500, Result: history.ResultOK},
		history.Event{Kind: history.KindWrite, Time: ns(40), Start: ns(30), Call: 1, Lock: "B", Token: 3, Result: history.ResultOK},
		// The operator forces the lease on A only.
		history.Event{Kind: history.KindForce, Time: ns(50), Start: ns(45), Lock: "A", Lease: "x", Token: 3, Result: history.ResultOK},
		history.Event{Kind: history.KindExit, Time: ns(60), Call: 1, Lock: "A", Lease: "x", Deadline: ns(300)},
		history.Event{Kind: history.KindExit, Time: ns(60), Call: 1, Lock: "B", Lease: "x", Deadline: ns(300)},
		// The holder's release went through on B, and found A forced.
		history.Event{Kind: history.KindLockOp, Time: ns(70), Lock: "A", Op: history.OpRelease, Result: history.ResultRefused, Lease: "x", Req: "x", Token: 3, RelLease: "x", Forced: "x"},
		history.Event{Kind: history.KindLockOp, Time: ns(70), Lock: "B", Op: history.OpRelease, Result: history.ResultOK, Lease: "x", Req: "x", Token: 3, RelLease: "x"},
		history.Event{Kind: history.KindDone, Time: ns(71), Call: 1, Lock: "A", Lease: "x", Result: history.ResultLost},
		history.Event{Kind: history.KindDone, Time: ns(71), Call: 1, Lock: "B", Lease: "x", Result: history.ResultReleased},
	)
	b, _ := json.Marshal(history.Final{At: time.Unix(0, ns(2000))})
	os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)

	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) != 0 {
		t.Fatalf("problems: %v", h.Problems)
	}
	if len(h.Sections) != 2 {
		t.Fatalf("%d sections, want 2", len(h.Sections))
	}
	for _, s := range h.Sections {
		if s.Lease != "x" || s.Token != 3 || s.Granted == nil || s.Granted.Lock != s.Lock || len(s.Extends) != 1 || len(s.Stored) != 1 {
			t.Errorf("section of %s = %+v", s.Lock, s)
		}
		switch s.Lock {
		case "A":
			if s.Forced == nil || s.ReleasedByHolder || s.Release != history.ResultLost || s.Write != nil || !s.MaxExp.Equal(time.UnixMilli(exp+100)) {
				t.Errorf("A: forced %v, released by its holder %v, release %q, write %v, max end %s", s.Forced, s.ReleasedByHolder, s.Release, s.Write, s.MaxExp)
			}
		case "B":
			if s.Forced != nil || !s.ReleasedByHolder || s.Release != history.ResultReleased || s.Write == nil || !s.MaxExp.Equal(time.UnixMilli(exp+200)) {
				t.Errorf("B: forced %v, released by its holder %v, release %q, write %v, max end %s", s.Forced, s.ReleasedByHolder, s.Release, s.Write, s.MaxExp)
			}
		}
	}
}
