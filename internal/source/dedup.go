package source

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
)

// DedupSpec drops records stored before: each record's key is computed,
// and a record whose key was stored within Window is not stored again, so
// overlapping polls (an API asked for "the last hour" every ten minutes)
// store each record once.
type DedupSpec struct {
	// Key is a path in the record ("id", "station.id") or an expression
	// over it, as in mappings ("record.station + ':' + record.ts").
	Key string `json:"key"`
	// Window is how long the key of a stored record is remembered, such as
	// "24h" (the default); between 1m and 90d.
	Window string `json:"window,omitempty"`
}

// Bounds of a dedup window.
const (
	DefaultDedupWindow = 24 * time.Hour
	minDedupWindow     = time.Minute
	maxDedupWindow     = 90 * 24 * time.Hour
	// KeySize is the length of a dedup key: a truncated SHA-256 of the
	// key value's JSON.
	KeySize = 16
)

type dedup struct {
	path   *mapping.Path
	expr   *mapping.Mapping
	window time.Duration
}

var pathLike = regexp.MustCompile(`^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$`)

// dedupSpec checks a DedupSpec at path.
func (b *Builder) dedupSpec(path string, d *DedupSpec) {
	if d == nil {
		return
	}
	out := &dedup{window: DefaultDedupWindow}
	if d.Window != "" {
		w, err := parseDays(d.Window)
		switch {
		case err != nil:
			b.Problem(path+".window", err.Error())
		case w < minDedupWindow || w > maxDedupWindow:
			b.Problem(path+".window", fmt.Sprintf("%q is not between 1m and 90d", d.Window))
		default:
			out.window = w
		}
	}
	switch {
	case d.Key == "":
		b.Problem(path+".key", `is required: a path in the record such as "id", or an expression such as "record.id + ':' + record.ts"`)
		return
	case pathLike.MatchString(d.Key):
		p, err := mapping.ParsePath(d.Key)
		if err != nil {
			b.Problem(path+".key", err.Error())
			return
		}
		out.path = &p
	default:
		m, err := mapping.Compile(mapping.Spec{Fields: map[string]mapping.FieldSpec{"key": {Expr: d.Key}}})
		var ce *mapping.CompileError
		switch {
		case errors.As(err, &ce):
			for _, p := range ce.Problems {
				msg := p.Message
				if p.Line > 0 {
					msg += fmt.Sprintf(" (line %d, column %d)", p.Line, p.Column)
				}
				b.Problem(path+".key", msg)
			}
			return
		case err != nil:
			b.Problem(path+".key", err.Error())
			return
		}
		out.expr = m
	}
	b.dedup = out
}

// parseDays parses a Go duration or a whole number of days ("7d").
func parseDays(s string) (time.Duration, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && fmt.Sprintf("%dd", n) == s {
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like \"30m\", \"24h\" or \"7d\"", s)
	}
	return d, nil
}

// keys computes the key of each record; a record without a key value
// gets nil and is never dropped.
func (d *dedup) keys(records []any) ([][]byte, error) {
	out := make([][]byte, len(records))
	now := time.Now()
	for i, rec := range records {
		var v any
		if d.path != nil {
			x, ok := d.path.Lookup(rec)
			if !ok {
				continue
			}
			v = x
		} else {
			res, err := d.expr.Apply(rec, now)
			if err != nil || len(res) != 1 || res[0].Err != nil {
				continue
			}
			v, _ = res[0].Fields.Get("key")
		}
		if v == nil {
			continue
		}
		out[i] = keyOf(v)
	}
	return out, nil
}

// keyOf hashes a key value. Numbers hash by their JSON text, so 1 and
// "1" are different keys.
func keyOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(textOf(v))
	}
	sum := sha256.Sum256(b)
	return sum[:KeySize]
}
