// Package progress draws a progress bar for long transfers on a terminal, and
// a line per tenth of the work when the output is not a terminal (logs, CI).
// It owns only rendering; callers report bytes with Add.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is safe for concurrent Add calls.
type Bar struct {
	w     io.Writer
	label string
	total int64
	tty   bool
	start time.Time

	mu       sync.Mutex
	done     int64
	last     time.Time
	lastTick int64 // last tenth printed in line mode
	finished bool
}

// New returns a bar writing to w; total may be 0 or negative when unknown.
func New(w io.Writer, label string, total int64) *Bar {
	return &Bar{w: w, label: label, total: total, tty: isTerminal(w), start: time.Now(), lastTick: -1}
}

// Discard is a bar that draws nothing.
func Discard() *Bar { return New(io.Discard, "", 0) }

// SetTotal changes the expected total.
func (b *Bar) SetTotal(n int64) { b.mu.Lock(); b.total = n; b.mu.Unlock() }

// Add reports n more bytes done.
func (b *Bar) Add(n int64) {
	if b.w == io.Discard {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	now := time.Now()
	if b.tty {
		if now.Sub(b.last) >= 100*time.Millisecond {
			b.last = now
			fmt.Fprintf(b.w, "\r%s", b.render(now))
		}
		return
	}
	if b.total > 0 {
		if tick := b.done * 10 / b.total; tick > b.lastTick && tick < 10 {
			b.lastTick = tick
			fmt.Fprintln(b.w, b.render(now))
		}
	}
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	if b.w == io.Discard {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\n", b.render(time.Now()))
	} else {
		fmt.Fprintln(b.w, b.render(time.Now()))
	}
}

func (b *Bar) render(now time.Time) string {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	if b.total <= 0 {
		return fmt.Sprintf("%s %s  %s/s", b.label, Size(b.done), Size(int64(rate)))
	}
	frac := float64(b.done) / float64(b.total)
	if frac > 1 {
		frac = 1
	}
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	eta := ""
	if rate > 0 && b.done < b.total {
		eta = fmt.Sprintf("  ETA %s", time.Duration(float64(b.total-b.done)/rate*float64(time.Second)).Round(time.Second))
	}
	return fmt.Sprintf("%s %3.0f%% [%s] %s / %s  %s/s%s", b.label, frac*100, bar, Size(b.done), Size(b.total), Size(int64(rate)), eta)
}

// Size formats a byte count with a binary unit.
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
