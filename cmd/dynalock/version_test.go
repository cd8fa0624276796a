package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// TestModuleVersion: a binary installed at a release (go install
// …/cmd/dynalock@v0.1.0) reports the module's version; one built from a
// checkout (devel, a pseudo-version, uncommitted changes) the constant.
func TestModuleVersion(t *testing.T) {
	for recorded, want := range map[string]string{
		"v0.1.0":                               "v0.1.0",
		"v0.2.0-rc.1":                          "v0.2.0-rc.1",
		"(devel)":                              version,
		"":                                     version,
		"v0.0.0-20261207221400-e36b335abcde":   version,
		"v0.1.1-0.20261207221400-e36b335abcde": version,
		"v0.1.0+dirty":                         version,
		"v0.1.1-0.20261207221400-e36b335abcde+dirty": version,
	} {
		info := &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Path: "github.com/dynalock/dynalock", Version: recorded}}
		var out bytes.Buffer
		writeVersionOf(&out, info)
		if first, _, _ := strings.Cut(out.String(), "\n"); first != "dynalock "+want {
			t.Errorf("recorded version %q: first line %q, want %q", recorded, first, "dynalock "+want)
		}
	}
	var out bytes.Buffer
	writeVersionOf(&out, nil)
	if !strings.HasPrefix(out.String(), "dynalock "+version+"\nbuilt with go") {
		t.Errorf("without build info: %q", out.String())
	}
}

// changelogHeading matches a version heading of CHANGELOG.md, as Keep a
// Changelog writes it, with or without the brackets: "## [v0.1.0] -
// 2026-12-08", "## v0.1.0 - unreleased", "## [Unreleased]".
var changelogHeading = regexp.MustCompile(`^## \[?(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?|Unreleased)\]?(?:\s+[-–]\s+(\S+))?\s*$`)

// TestVersionMatchesChangelog: the version constant is the newest version
// heading of CHANGELOG.md once that heading is dated (a release), and that
// version with "-dev" while it is not; under an unversioned
// "[Unreleased]" heading, a "-dev" version newer than the newest release.
func TestVersionMatchesChangelog(t *testing.T) {
	f, err := os.Open("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dated := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	var top, topDate, released string
	for s := bufio.NewScanner(f); s.Scan(); {
		m := changelogHeading.FindStringSubmatch(s.Text())
		if m == nil {
			if strings.HasPrefix(s.Text(), "## ") {
				t.Errorf("CHANGELOG.md heading %q is not a version heading (## [vX.Y.Z] - YYYY-MM-DD, or - unreleased)", s.Text())
			}
			continue
		}
		if top == "" {
			top, topDate = m[1], m[2]
		}
		if m[1] != "Unreleased" && dated.MatchString(m[2]) {
			released = m[1]
			break
		}
	}
	switch {
	case top == "":
		t.Fatal("CHANGELOG.md has no version heading")
	case top == "Unreleased":
		if !strings.HasSuffix(version, "-dev") || released == "" || !newer(strings.TrimSuffix(version, "-dev"), released) {
			t.Errorf("version %q: under [Unreleased], want a -dev version newer than the newest release %q", version, released)
		}
	case dated.MatchString(topDate):
		if version != top {
			t.Errorf("version %q, but CHANGELOG.md's newest heading is the release %s of %s: set the constant to %q", version, top, topDate, top)
		}
	case version != top+"-dev":
		t.Errorf("version %q, but CHANGELOG.md's newest heading, %s, is not dated (%q): want %q", version, top, topDate, top+"-dev")
	}
}

// newer reports whether version a is after b, by their vX.Y.Z.
func newer(a, b string) bool {
	parse := func(v string) (n [3]int, ok bool) {
		core, _, _ := strings.Cut(v, "-")
		_, err := fmt.Sscanf(core, "v%d.%d.%d", &n[0], &n[1], &n[2])
		return n, err == nil
	}
	x, okA := parse(a)
	y, okB := parse(b)
	if !okA || !okB {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return x[i] > y[i]
		}
	}
	return false
}
