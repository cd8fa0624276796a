package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

// version is this release of dynalock, the same as the module's: the
// newest version heading of CHANGELOG.md, with "-dev" while that heading
// is not dated yet (a build between releases). TestVersionMatchesChangelog
// keeps the two in step.
const version = "v0.1.0"

// releaseVersion matches a module version that names a release, such as
// v0.1.0 or v0.2.0-rc.1, as `go install …@v0.1.0` records it; pseudoVersion
// matches the versions the go command makes up for commits between
// releases (v0.0.0-20261207221400-e36b335abcde), which say less than
// version does.
var (
	releaseVersion = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	pseudoVersion  = regexp.MustCompile(`\d{14}-[0-9a-f]{12}$`)
)

// moduleVersion returns the version dynalock reports: the main module's,
// as the Go toolchain recorded it, when that names a release; otherwise
// (built from a checkout: "(devel)", a pseudo-version, a "+dirty" build)
// the version constant.
func moduleVersion(info *debug.BuildInfo) string {
	if info != nil {
		if v := info.Main.Version; releaseVersion.MatchString(v) && !pseudoVersion.MatchString(v) {
			return v
		}
	}
	return version
}

// writeVersion prints the module version, then what the Go toolchain
// recorded in the binary: the module's path and version as recorded, the
// Go version and platform, and the commit it was built from, if known.
func writeVersion(w io.Writer) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	writeVersionOf(w, info)
}

func writeVersionOf(w io.Writer, info *debug.BuildInfo) {
	fmt.Fprintf(w, "dynalock %s\n", moduleVersion(info))
	if info == nil {
		fmt.Fprintf(w, "built with %s for %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	if info.Main.Path != "" {
		fmt.Fprintf(w, "module %s %s\n", info.Main.Path, info.Main.Version)
	}
	fmt.Fprintf(w, "built with %s for %s/%s\n", info.GoVersion, runtime.GOOS, runtime.GOARCH)
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if t := vcs["vcs.time"]; t != "" {
			rev += " of " + t
		}
		if vcs["vcs.modified"] == "true" {
			rev += ", with uncommitted changes"
		}
		fmt.Fprintf(w, "commit %s\n", rev)
	}
}
