package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is this release of dynalock, the same as the module's: see
// CHANGELOG.md. A "-dev" suffix marks a build between releases.
const version = "v0.1.0-dev"

// writeVersion prints version, then what the Go toolchain recorded in the
// binary: the module's version ("(devel)" when built from a checkout), the
// Go version and platform, and the commit it was built from, if known.
func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "dynalock %s\n", version)
	info, ok := debug.ReadBuildInfo()
	if !ok {
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
