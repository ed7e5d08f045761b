// Package progress shows the progress of long transfers: a bar redrawn in
// place on a terminal, and a line per tenth of the work when the output is not
// a terminal (logs, CI). Drawing is github.com/schollz/progressbar/v3; this
// package owns only the choice between the two modes, the tenth-of-the-work
// lines and the byte-count format of the ppstore command. Callers report bytes
// with Add; Add is safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// redraw is the shortest interval between two redraws of a terminal bar.
const redraw = 100 * time.Millisecond

// Bar reports the progress of one transfer. The zero value is not usable; use
// New or Discard.
type Bar struct {
	mu        sync.Mutex
	w         io.Writer
	pb        *progressbar.ProgressBar // nil: draws nothing
	lines     bool                     // not a terminal: a line per tenth
	total     int64                    // bytes expected; <= 0 when unknown
	done      int64
	lastTenth int64 // last tenth printed in line mode; -1 before the first
	finished  bool
}

// New returns a bar labelled label (say "put") that writes to w; total is the
// number of bytes expected, 0 or negative when unknown (stdin, a pipe). On a
// terminal the bar is redrawn at most every 100 ms; elsewhere a line is
// written when the work reaches each tenth (0%, 10%, ... 90%) and at Finish,
// or only at Finish when the total is unknown.
func New(w io.Writer, label string, total int64) *Bar {
	return newBar(w, label, total, isTerminal(w))
}

// newBar is New with the choice of mode made by the caller.
func newBar(w io.Writer, label string, total int64, terminal bool) *Bar {
	if total <= 0 {
		total = -1 // progressbar's "unknown length": a spinner and a byte count
	}
	b := &Bar{w: w, total: total, lines: !terminal, lastTenth: -1}
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(label + " "),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
		// No spinner goroutine: the spinner moves when bytes are reported.
		progressbar.OptionSetSpinnerChangeInterval(0),
	}
	if b.lines {
		// The bar renders into its own state only; Add prints that rendering
		// as a line at each tenth. A log has no use for a spinner, and gets
		// plain ASCII.
		opts = append(opts, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSpinnerCustom([]string{""}),
			progressbar.OptionSetTheme(progressbar.ThemeASCII))
	} else {
		opts = append(opts,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(redraw),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	b.pb = progressbar.NewOptions64(total, opts...)
	return b
}

// Discard is a bar that draws nothing.
func Discard() *Bar { return &Bar{w: io.Discard} }

// SetTotal changes the number of bytes expected.
func (b *Bar) SetTotal(n int64) {
	if b.pb == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = n
	b.pb.ChangeMax64(n)
}

// Add reports n more bytes done.
func (b *Bar) Add(n int64) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.done += n
	b.pb.Add64(n) // its only errors are "more than the total", which the bar shows as 100%
	if !b.lines || b.total <= 0 {
		return
	}
	if tenth := b.done * 10 / b.total; tenth > b.lastTenth && tenth < 10 {
		b.lastTenth = tenth
		b.printLine()
	}
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	b.pb.Finish()
	if b.lines {
		b.printLine()
	}
}

// Close ends a terminal bar's line when the transfer stopped before Finish
// (an error), so that what is printed next starts on a line of its own. It
// does nothing after Finish.
func (b *Bar) Close() {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if !b.lines && b.done > 0 {
		fmt.Fprintln(b.w)
	}
}

// printLine writes the bar's current rendering as one line. b.mu is held.
func (b *Bar) printLine() {
	b.pb.RenderBlank() // renders the current state (no throttle in line mode)
	line := strings.TrimSpace(strings.TrimLeft(b.pb.String(), "\r"))
	if line != "" {
		fmt.Fprintln(b.w, line)
	}
}

// Size formats a byte count with a binary unit: "1023 B", "1.0 KiB",
// "3.0 GiB".
func Size(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
