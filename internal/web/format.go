package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Formatting for people: counts, bytes, durations, times.

func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func bytesize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ago says how long before now t was, briefly.
func ago(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}

// sparkline is the SVG path of a series of counts in a w×h box: the line
// and the area under it.
func sparkline(vals []int, w, h float64) (line, area string) {
	if len(vals) < 2 {
		return "", ""
	}
	top := 0
	for _, v := range vals {
		top = max(top, v)
	}
	step := w / float64(len(vals)-1)
	y := func(v int) float64 {
		if top == 0 {
			return h - 1
		}
		return 1 + (h-2)*(1-float64(v)/float64(top))
	}
	var b strings.Builder
	for i, v := range vals {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		fmt.Fprintf(&b, "%s %s", trimFloat(float64(i)*step), trimFloat(y(v)))
	}
	line = b.String()
	area = line + fmt.Sprintf(" L%s %s L0 %s Z", trimFloat(w), trimFloat(h), trimFloat(h))
	return line, area
}

func trimFloat(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

func sum(vals []int) int64 {
	var n int64
	for _, v := range vals {
		n += int64(v)
	}
	return n
}
