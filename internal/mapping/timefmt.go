package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Names of the time formats that are not layouts.
const (
	FormatRFC3339 = "rfc3339"
	FormatUnix    = "unix"
	FormatUnixMs  = "unix_ms"
	FormatUnixUs  = "unix_us"
	FormatUnixNs  = "unix_ns"
)

type timeKind uint8

const (
	timeRFC3339 timeKind = iota
	timeUnix
	timeLayout
)

// timeFormat is a compiled time format: RFC 3339, a Unix epoch count in some
// unit, or a Go layout (strftime layouts are translated to Go layouts).
type timeFormat struct {
	name   string
	kind   timeKind
	unit   int64 // nanoseconds per unit, for timeUnix
	layout string
	loc    *time.Location // for layouts without a zone; never nil
}

var rfc3339Format = &timeFormat{name: FormatRFC3339, kind: timeRFC3339, loc: time.UTC}

// Timestamps outside years 1..9999 cannot be written as RFC 3339.
const (
	minUnixSec = -62135596800 // 0001-01-01T00:00:00Z
	maxUnixSec = 253402300799 // 9999-12-31T23:59:59Z
)

// parseFormat compiles a format name or layout. needDate requires a layout to
// carry a year, month and day, as a timestamp must.
func parseFormat(format string, loc *time.Location, needDate bool) (*timeFormat, error) {
	if loc == nil {
		loc = time.UTC
	}
	f := &timeFormat{name: format, loc: loc}
	switch strings.ToLower(format) {
	case "", FormatRFC3339, "iso8601":
		f.kind, f.name = timeRFC3339, FormatRFC3339
		return f, nil
	case FormatUnix, "unix_s":
		f.kind, f.unit = timeUnix, int64(time.Second)
		return f, nil
	case FormatUnixMs:
		f.kind, f.unit = timeUnix, int64(time.Millisecond)
		return f, nil
	case FormatUnixUs:
		f.kind, f.unit = timeUnix, int64(time.Microsecond)
		return f, nil
	case FormatUnixNs:
		f.kind, f.unit = timeUnix, 1
		return f, nil
	}
	f.kind = timeLayout
	f.layout = format
	if strings.Contains(format, "%") {
		l, err := strftimeLayout(format)
		if err != nil {
			return nil, err
		}
		f.layout = l
	}
	// A layout is valid when it changes a probe time into text that parses
	// back. (The probe must not be Go's reference time, which every layout
	// formats as itself.)
	probe := time.Date(2017, 11, 28, 21, 43, 37, 123456789, time.FixedZone("CET", 3600))
	s := probe.Format(f.layout)
	if s == f.layout {
		return nil, fmt.Errorf("unknown time format %q: use rfc3339, unix, unix_ms, unix_us, unix_ns, a Go layout such as \"2006-01-02 15:04:05\" or a strftime layout such as \"%%Y-%%m-%%d %%H:%%M:%%S\"", format)
	}
	t, err := time.Parse(f.layout, s)
	if err != nil {
		return nil, fmt.Errorf("time format %q cannot be parsed back: %v", format, err)
	}
	if needDate && (t.Year() != 2017 || t.Month() != 11 || t.Day() != 28) {
		return nil, fmt.Errorf("time format %q must contain a year, a month and a day", format)
	}
	return f, nil
}

var strftimeDirectives = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03",
	'M': "04", 'S': "05", 'z': "-0700", 'Z': "MST", 'b': "Jan", 'h': "Jan",
	'B': "January", 'a': "Mon", 'A': "Monday", 'p': "PM", 'j': "002",
	'T': "15:04:05", 'D': "01/02/06", 'F': "2006-01-02", 'R': "15:04", '%': "%",
}

// strftimeLayout translates a strftime layout into a Go layout. Literal
// digits are refused because Go would read them as layout elements.
func strftimeLayout(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c >= '0' && c <= '9' {
				return "", fmt.Errorf("time format %q: literal digits are not supported in a strftime layout", s)
			}
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("time format %q ends with a lone %%", s)
		}
		i++
		d := s[i]
		switch {
		case d == '-' && i+1 < len(s) && (s[i+1] == 'm' || s[i+1] == 'd' || s[i+1] == 'I'):
			i++
			b.WriteString(map[byte]string{'m': "1", 'd': "2", 'I': "3"}[s[i]])
		case d == ':' && i+1 < len(s) && s[i+1] == 'z':
			i++
			b.WriteString("-07:00")
		case d == 'f':
			out := b.String()
			if out == "" || (out[len(out)-1] != '.' && out[len(out)-1] != ',') {
				return "", fmt.Errorf("time format %q: %%f must follow a '.' or ','", s)
			}
			b.WriteString("000000")
		default:
			g, ok := strftimeDirectives[d]
			if !ok {
				return "", fmt.Errorf("time format %q: unsupported directive %%%c", s, d)
			}
			b.WriteString(g)
		}
	}
	return b.String(), nil
}

// parse turns a value into a time in UTC according to the format. A
// time.Time (from an expression) is accepted by every format.
func (f *timeFormat) parse(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return checkRange(t.UTC())
	}
	switch f.kind {
	case timeUnix:
		return f.parseUnix(v)
	case timeRFC3339:
		s, ok := v.(string)
		if !ok {
			hint := ""
			if isNumber(v) {
				hint = " (for epoch numbers set format unix, unix_ms, unix_us or unix_ns)"
			}
			return time.Time{}, fmt.Errorf("expected an RFC 3339 time, got %s%s", describe(v), hint)
		}
		t, err := parseRFC3339(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("expected an RFC 3339 time, got %s", describe(v))
		}
		return checkRange(t.UTC())
	default:
		s, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("expected a time in format %q, got %s", f.name, describe(v))
		}
		t, err := time.ParseInLocation(f.layout, strings.TrimSpace(s), f.loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("expected a time in format %q, got %s", f.name, describe(v))
		}
		return checkRange(t.UTC())
	}
}

// parseRFC3339 also accepts a space or a lower-case t between date and time
// and a lower-case z, as databases and loggers often write them.
func parseRFC3339(s string) (time.Time, error) {
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't' || s[len(s)-1] == 'z') {
		b := []byte(s)
		if b[10] == ' ' || b[10] == 't' {
			b[10] = 'T'
		}
		if b[len(b)-1] == 'z' {
			b[len(b)-1] = 'Z'
		}
		s = string(b)
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (f *timeFormat) parseUnix(v any) (time.Time, error) {
	perSec := int64(time.Second) / f.unit
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("expected a Unix time in %s, got %s", unitName(f.unit), describe(v))
	}
	var (
		n     int64
		x     float64
		isInt bool
	)
	switch t := v.(type) {
	case int64:
		n, isInt = t, true
	case int:
		n, isInt = int64(t), true
	case float64:
		x = t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			n, isInt = i, true
		} else if x, err = t.Float64(); err != nil {
			return bad()
		}
	case string:
		s := strings.TrimSpace(t)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			n, isInt = i, true
		} else if fv, err := strconv.ParseFloat(s, 64); err == nil {
			x = fv
		} else {
			return bad()
		}
	default:
		return bad()
	}
	if isInt {
		sec, rem := n/perSec, n%perSec
		if sec < minUnixSec || sec > maxUnixSec {
			return time.Time{}, fmt.Errorf("the Unix time %d (%s) is out of range", n, unitName(f.unit))
		}
		return time.Unix(sec, rem*f.unit).UTC(), nil
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return bad()
	}
	secs := x / float64(perSec)
	if secs < minUnixSec || secs > maxUnixSec {
		return time.Time{}, fmt.Errorf("the Unix time %v (%s) is out of range", x, unitName(f.unit))
	}
	whole := math.Floor(secs)
	return time.Unix(int64(whole), int64(math.Round((secs-whole)*1e9))).UTC(), nil
}

func unitName(unit int64) string {
	switch unit {
	case int64(time.Second):
		return "seconds"
	case int64(time.Millisecond):
		return "milliseconds"
	case int64(time.Microsecond):
		return "microseconds"
	}
	return "nanoseconds"
}

var errTimeRange = errors.New("time is outside years 1 to 9999")

func checkRange(t time.Time) (time.Time, error) {
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, errTimeRange
	}
	return t, nil
}

// format renders t in the format: a string for RFC 3339 and layouts, the
// decimal count of units for the Unix formats.
func (f *timeFormat) format(t time.Time) string {
	switch f.kind {
	case timeUnix:
		switch f.unit {
		case int64(time.Second):
			return strconv.FormatInt(t.Unix(), 10)
		case int64(time.Millisecond):
			return strconv.FormatInt(t.UnixMilli(), 10)
		case int64(time.Microsecond):
			return strconv.FormatInt(t.UnixMicro(), 10)
		}
		return strconv.FormatInt(t.UnixNano(), 10)
	case timeRFC3339:
		return t.In(f.loc).Format(time.RFC3339Nano)
	default:
		return t.In(f.loc).Format(f.layout)
	}
}

// formatTime is how times appear in mapped records: RFC 3339 in UTC.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
