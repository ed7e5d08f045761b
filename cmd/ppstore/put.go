package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

func newPutCmd() *cobra.Command {
	var (
		replicas     int
		name         string
		quiet, stats bool
	)
	cmd := &cobra.Command{
		Use:   "put [flags] FILE",
		Short: "Store a file and print its CID",
		Long: `Store FILE ("-" for standard input) in the region: it is split into shards,
each uploaded to --replicas miners. Progress goes to stderr; the file's CID
is the last line of stdout.

Everything the region would refuse (a name that is not UTF-8 or too long, a
replica count out of range, a file too large for one commit) is refused
before the first byte is sent.`,
		Example: `  ppstore put --replicas 3 video.mp4
  tar c photos | ppstore put --name photos.tar -`,
		Args: exactArgs(1, `one FILE ("-" for stdin)`),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The command line first: nothing is opened for a wrong one.
			if cmd.Flags().Changed("replicas") {
				if err := user.ValidateReplicas(replicas); err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("--replicas %d: want 1..%d (without --replicas, the config's replicas, 3 by default)", replicas, user.MaxReplicas)}
				}
			}
			if cmd.Flags().Changed("name") {
				if err := user.ValidateName(name); err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("--name: %s", inputReason(err))}
				}
			}
			in, size, closeIn, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			if args[0] != "-" && !cmd.Flags().Changed("name") {
				name = filepath.Base(args[0])
				if err := user.ValidateName(name); err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("%s: its name, recorded for ls, is %s; give another with --name NAME", displayInput(args[0]), inputReason(err))}
				}
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			opts := user.PutOptions{Name: name, Replicas: replicas}
			if err := c.CheckPut(in, opts); err != nil {
				return fmt.Errorf("%s: %w", displayInput(args[0]), err)
			}
			bar := progress.Discard()
			if !quiet {
				bar = progress.New(cmd.ErrOrStderr(), "put", size)
			}
			defer bar.Close()
			opts.Progress = bar.Add
			start := time.Now()
			id, err := c.Put(cmd.Context(), namedReader{in, args[0]}, opts)
			if err != nil {
				return err
			}
			bar.Finish()
			if stats {
				printStats(cmd.ErrOrStderr(), c, "put", start)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), id.String())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&replicas, "replicas", 0, fmt.Sprintf("replicas per shard, 1..%d (default from the config, 3)", user.MaxReplicas))
	f.StringVar(&name, "name", "", "name recorded for ls (default: the file's base name)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.BoolVar(&stats, "stats", false, "print transfer statistics to stderr")
	return cmd
}

// openInput opens what put reads: standard input for "-", else the file at
// path. size is the file's size, -1 when unknown (stdin, a FIFO, a device).
func openInput(cmd *cobra.Command, path string) (r io.Reader, size int64, closeFn func(), err error) {
	if path == "-" {
		return cmd.InOrStdin(), -1, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: %w", displayInput(path), unwrapPath(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s: %w", displayInput(path), unwrapPath(err))
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s is a directory; put takes one file (pipe a tar of it: tar c DIR | ppstore put --name DIR.tar -)", displayInput(path))
	}
	size = -1
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// displayInput names put's input as the user gave it, escaped if it holds
// bytes a terminal would not show as typed.
func displayInput(arg string) string {
	if arg == "-" {
		return "standard input"
	}
	return quoteIfNeeded(arg)
}

// inputReason is what a user.InputError says is wrong, without its field
// name (the caller names the flag or file instead).
func inputReason(err error) string {
	var ie *user.InputError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}

// namedReader makes read errors name the input as the user typed it (the
// path given, or "standard input"), not a path the system resolved it to
// such as /dev/stdin or /proc/self/fd/0.
type namedReader struct {
	r   io.Reader
	arg string
}

func (n namedReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading %s: %w", displayInput(n.arg), unwrapPath(err))
	}
	return k, err
}

// unwrapPath drops the path of an *os.PathError (keeping the operation's
// error, so errors.Is on syscall errors still holds), for messages that name
// the file themselves.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
