package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release this binary was built from, set at link time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/ppstore
//
// When empty, the version comes from the build info: the module version for
// `go install github.com/ppstore/ppstore/cmd/ppstore@VERSION`, else the VCS
// revision when the build recorded one, else "(devel)".
var version = ""

// versionString is the version that `ppstore version` and `--version` print.
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "(devel) " + rev
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of ppstore",
		Long:  "Print the version of this ppstore binary, as --version does.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ppstore %s\n", versionString())
			return err
		},
	}
}
