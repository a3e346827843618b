package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/tributary-dev/tributary/client"
)

// progressBar draws an upload's progress on a terminal; on anything else
// it draws nothing.
type progressBar struct {
	w     io.Writer
	on    bool
	mu    sync.Mutex
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, on: isTerminal(w)}
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (b *progressBar) update(p client.UploadProgress) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var done, total int64
	var label string
	switch p.Phase {
	case "sending":
		done, total, label = p.Sent, p.Total, "sending   "
	default:
		done, total, label = p.RowsDone, p.RowsTotal, "processing"
	}
	const width = 30
	bar := strings.Repeat("-", width)
	pct := ""
	if total > 0 {
		n := int(float64(width) * float64(done) / float64(total))
		bar = strings.Repeat("=", min(n, width)) + strings.Repeat("-", width-min(n, width))
		pct = fmt.Sprintf("%3d%%", min(100, 100*done/total))
	}
	unit := "bytes"
	if p.Phase != "sending" {
		unit = "rows"
	}
	fmt.Fprintf(b.w, "\r%s [%s] %s %d %s ", label, bar, pct, done, unit)
	b.drawn = true
}

// done ends the bar's line.
func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
