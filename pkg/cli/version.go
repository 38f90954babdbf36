package cli

import (
	"runtime/debug"
	"strings"
)

// Version is this binary's version, from the build information Go stamps
// into it: the module version (`go install ...@v1.2.0` gives v1.2.0; a
// build in a checkout, a pseudo-version naming the commit), and the VCS
// revision when the version does not already name it.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module support)"
	}
	return versionOf(info)
}

func versionOf(info *debug.BuildInfo) string {
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" || strings.Contains(version, revision[:min(12, len(revision))]) {
		return version
	}
	version += " (revision " + revision
	if modified == "true" {
		version += ", modified"
	}
	return version + ")"
}
