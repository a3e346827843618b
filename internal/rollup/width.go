package rollup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The bucket widths of a series, one rule for every transport (REST's
// bucket parameter, GraphQL's series(bucket:), dashboards' panels):
//
//   - a whole number of seconds written as a Go duration: 30s, 90s, 1m,
//     15m, 1h30m; at least 1s;
//   - or whole days or weeks: 1d, 7d, 2w;
//   - at most MaxWidth (3650d).
//
// A series request may also say "raw" (one point per record: width 0),
// or nothing for the automatic width (ParseSeriesWidth).

// MaxWidth is the widest bucket a series may ask for.
const MaxWidth = 3650 * 24 * time.Hour

// AutoWidths are the widths an automatic bucket chooses among: the
// smallest giving at most AutoWidthMaxBuckets buckets over the range,
// else the last.
var AutoWidths = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// AutoWidthMaxBuckets is the most buckets an automatic width gives.
const AutoWidthMaxBuckets = 1000

// WidthError is a bucket width that breaks the rule. Its Error names the
// value and says what is wrong and how to write it.
type WidthError struct {
	// Value is the width as written.
	Value string
	// Reason says what is wrong, e.g. "is shorter than 1s".
	Reason string
}

func (e *WidthError) Error() string {
	return fmt.Sprintf("bucket %q %s; write it like 30s, 1m, 1h, 1d or 1w", e.Value, e.Reason)
}

// ParseWidth reads an explicit bucket width by the rule above. Its
// errors are *WidthError.
func ParseWidth(s string) (time.Duration, error) {
	bad := func(reason string) (time.Duration, error) { return 0, &WidthError{Value: s, Reason: reason} }
	var d time.Duration
	if strings.HasSuffix(s, "d") || strings.HasSuffix(s, "w") {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n <= 0 {
			return bad("is not a whole number of days or weeks")
		}
		unit := 24 * time.Hour
		if strings.HasSuffix(s, "w") {
			unit *= 7
		}
		if n > int(MaxWidth/unit) {
			return bad("is wider than the widest bucket, 3650d")
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return bad("is not a bucket width")
	case d < time.Second:
		return bad("is shorter than the smallest bucket, 1s")
	case d%time.Second != 0:
		return bad("is not a whole number of seconds")
	case d > MaxWidth:
		return bad("is wider than the widest bucket, 3650d")
	}
	return d, nil
}

// ParseSeriesWidth reads the bucket of a series request over a range of
// span: "" is the automatic width (the smallest of AutoWidths giving at
// most AutoWidthMaxBuckets buckets), "raw" is 0 (a point per record),
// anything else is ParseWidth's.
func ParseSeriesWidth(s string, span time.Duration) (time.Duration, error) {
	switch s {
	case "":
		for _, w := range AutoWidths {
			if span/w <= AutoWidthMaxBuckets {
				return w, nil
			}
		}
		return AutoWidths[len(AutoWidths)-1], nil
	case "raw":
		return 0, nil
	}
	return ParseWidth(s)
}

// FormatWidth writes a width the way ParseSeriesWidth reads it, in the
// largest whole unit: raw, 7d, 6h, 15m, 90s.
func FormatWidth(d time.Duration) string {
	switch {
	case d == 0:
		return "raw"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
