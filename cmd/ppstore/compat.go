package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// longFlagsWithOneDash rewrites "-name" and "-name=value" to "--name..." when
// name is a long flag of the command tree, so that command lines written for
// the earlier ppstore (Go's flag package, which accepts one dash before a long
// name: -json, -config FILE) keep working under pflag, which would read
// "-json" as the shorthands j, s, o, n. Arguments after "--", values of flags
// that take one, and single letters are left alone.
func longFlagsWithOneDash(root *cobra.Command, args []string) []string {
	long := map[string]*pflag.Flag{}
	short := map[string]*pflag.Flag{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) {
			long[f.Name] = f
			if f.Shorthand != "" {
				short[f.Shorthand] = f
			}
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	// Added by cobra when the command runs.
	for _, name := range []string{"help", "version"} {
		if long[name] == nil {
			long[name] = &pflag.Flag{Name: name, NoOptDefVal: "true"}
		}
	}
	takesValue := func(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }

	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		var f *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			if strings.Contains(a, "=") {
				continue
			}
			f = long[a[2:]]
		case strings.HasPrefix(a, "-") && len(a) > 2:
			name, _, hasValue := strings.Cut(a[1:], "=")
			if lf, ok := long[name]; ok && len(name) > 1 {
				out[len(out)-1] = "-" + a
				if hasValue {
					continue
				}
				f = lf
			} else if !hasValue {
				continue // shorthands, or a shorthand with its value attached (-ofile)
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			f = short[a[1:]]
		}
		if takesValue(f) && i+1 < len(args) {
			i++
			out = append(out, args[i]) // the flag's value, whatever it looks like
		}
	}
	return out
}
