package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Type is what a rule watches.
type Type string

// Rule types.
const (
	// TypeFailing fires while the pipeline's status is failing or one of
	// its sinks is failing or has dead deliveries.
	TypeFailing Type = "failing"
	// TypeNoData fires when no record came for the window.
	TypeNoData Type = "no_data"
	// TypeRejectedRatio fires when the share of rejected records over the
	// window is above a ratio.
	TypeRejectedRatio Type = "rejected_ratio"
	// TypeThreshold fires when a numeric field's aggregate over the window,
	// read from the minute rollups, compares true with a value.
	TypeThreshold Type = "threshold"
)

// Types lists the rule types, in the order documents name them.
var Types = []Type{TypeFailing, TypeNoData, TypeRejectedRatio, TypeThreshold}

// Severities a rule may have.
var Severities = []string{"info", "warning", "critical"}

// Aggregates a threshold rule may fold a field with.
var Aggregates = []string{"avg", "min", "max", "sum", "count", "last"}

// Operators a threshold rule may compare with.
var Operators = []string{">", ">=", "<", "<=", "==", "!="}

// Bounds of a rule's durations.
const (
	MinWindow = time.Minute
	MaxWindow = 7 * 24 * time.Hour
	MaxFor    = 24 * time.Hour
	MinRepeat = time.Minute
	MaxRepeat = 7 * 24 * time.Hour
)

// NoData is the no_data condition.
type NoData struct {
	Window time.Duration
}

// RejectedRatio is the rejected_ratio condition: rejected / fetched over
// the window above Above, once at least MinRecords were fetched.
type RejectedRatio struct {
	Window     time.Duration
	Above      float64
	MinRecords int64
}

// Threshold is the threshold condition: Aggregate(Field) over Window, Op
// Value.
type Threshold struct {
	Field     string
	Aggregate string
	Op        string
	Value     float64
	Window    time.Duration
}

// Rule is a decoded, checked rule document.
type Rule struct {
	Name string
	// Pipeline names the watched pipeline, by name or id; "" watches every
	// pipeline of the team.
	Pipeline string
	Type     Type
	// Exactly one of these is set for the types that have settings.
	NoData        *NoData
	RejectedRatio *RejectedRatio
	Threshold     *Threshold

	For      time.Duration // how long the condition holds before firing
	Severity string
	Repeat   time.Duration // 0: notify once per firing
	Labels   map[string]string
	Channels []string // channel names
	Enabled  bool
}

// Window is how far back the rule reads: 0 for failing.
func (r *Rule) Window() time.Duration {
	switch {
	case r.NoData != nil:
		return r.NoData.Window
	case r.RejectedRatio != nil:
		return r.RejectedRatio.Window
	case r.Threshold != nil:
		return r.Threshold.Window
	}
	return 0
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$`)
	labelRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// ParseRule decodes a rule document strictly: unknown fields, wrong types
// and out-of-range values are problems with their JSON paths, all of them
// at once in a *SpecError.
//
//	{"name": "too hot", "pipeline": "weather",
//	 "threshold": {"field": "temp", "aggregate": "avg", "op": ">", "value": 30, "window": "5m"},
//	 "for": "2m", "severity": "critical", "repeat": "1h", "labels": {"team": "ops"},
//	 "channels": ["ops-hook"], "enabled": true}
func ParseRule(doc []byte) (*Rule, error) {
	var ps problems
	r := &Rule{Severity: "warning", Enabled: true}
	var conds []string
	var enabled *bool
	ok := object(doc, "", &ps, map[string]func(json.RawMessage, string){
		"name":     strictStr(&r.Name, &ps),
		"pipeline": strictStr(&r.Pipeline, &ps),
		"failing": func(raw json.RawMessage, path string) {
			conds = append(conds, "failing")
			r.Type = TypeFailing
			object(raw, path, &ps, map[string]func(json.RawMessage, string){})
		},
		"no_data": func(raw json.RawMessage, path string) {
			conds = append(conds, "no_data")
			r.Type, r.NoData = TypeNoData, &NoData{}
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"window": duration(&r.NoData.Window, MinWindow, MaxWindow, &ps),
			})
			if r.NoData.Window == 0 && !hasProblemUnder(ps, join(path, "window")) {
				ps.add(join(path, "window"), "is required: how long without a record makes the pipeline quiet, such as \"15m\"")
			}
		},
		"rejected_ratio": func(raw json.RawMessage, path string) {
			conds = append(conds, "rejected_ratio")
			c := &RejectedRatio{Above: math.NaN(), MinRecords: 1}
			r.Type, r.RejectedRatio = TypeRejectedRatio, c
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"window":      duration(&c.Window, MinWindow, MaxWindow, &ps),
				"above":       typed(&c.Above, "a number between 0 and 1", &ps),
				"min_records": typed(&c.MinRecords, "a whole number", &ps),
			})
			if c.Window == 0 && !hasProblemUnder(ps, join(path, "window")) {
				ps.add(join(path, "window"), "is required, such as \"10m\"")
			}
			switch {
			case hasProblemUnder(ps, join(path, "above")):
			case math.IsNaN(c.Above):
				ps.add(join(path, "above"), "is required: the share of rejected records (0 to 1) above which the rule fires")
			case c.Above < 0 || c.Above >= 1:
				ps.add(join(path, "above"), "must be at least 0 and below 1, not %v", c.Above)
			}
			if c.MinRecords < 1 {
				ps.add(join(path, "min_records"), "must be at least 1")
			}
		},
		"threshold": func(raw json.RawMessage, path string) {
			conds = append(conds, "threshold")
			c := &Threshold{Value: math.NaN()}
			r.Type, r.Threshold = TypeThreshold, c
			var value json.RawMessage
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"field":     strictStr(&c.Field, &ps),
				"aggregate": strictStr(&c.Aggregate, &ps),
				"op":        strictStr(&c.Op, &ps),
				"value":     func(raw json.RawMessage, _ string) { value = raw },
				"window":    duration(&c.Window, MinWindow, MaxWindow, &ps),
			})
			if c.Field == "" && !hasProblemUnder(ps, join(path, "field")) {
				ps.add(join(path, "field"), "is required: the numeric field of the pipeline's records to watch")
			}
			if c.Aggregate == "" {
				c.Aggregate = "avg"
			}
			if !slices.Contains(Aggregates, c.Aggregate) {
				ps.add(join(path, "aggregate"), "must be one of %s, not %q", strings.Join(Aggregates, ", "), c.Aggregate)
			}
			if !slices.Contains(Operators, c.Op) {
				ps.add(join(path, "op"), "must be one of %s, not %q", strings.Join(Operators, " "), c.Op)
			}
			switch {
			case value == nil:
				ps.add(join(path, "value"), "is required: the number the aggregate is compared with")
			default:
				var v float64
				if err := json.Unmarshal(value, &v); err != nil {
					ps.add(join(path, "value"), "must be a number, not %s", describe(value))
				} else {
					c.Value = v
				}
			}
			if c.Window == 0 && !hasProblemUnder(ps, join(path, "window")) {
				ps.add(join(path, "window"), "is required, such as \"5m\"")
			}
		},
		"for":      duration(&r.For, 0, MaxFor, &ps),
		"severity": strictStr(&r.Severity, &ps),
		"repeat":   duration(&r.Repeat, MinRepeat, MaxRepeat, &ps),
		"labels":   typed(&r.Labels, "an object of strings", &ps),
		"channels": typed(&r.Channels, "an array of channel names", &ps),
		"enabled":  typed(&enabled, "true or false", &ps),
	})
	if !ok {
		return nil, ps.err()
	}
	if enabled != nil {
		r.Enabled = *enabled
	}
	if !nameRE.MatchString(r.Name) && !hasProblemUnder(ps, "name") {
		ps.add("name", "must be 1 to 100 letters, digits, spaces, _ . or -, starting with a letter or digit")
	}
	switch len(conds) {
	case 0:
		ps.add("", "a rule needs one condition: failing, no_data, rejected_ratio or threshold")
	case 1:
	default:
		ps.add(conds[1], "a rule has one condition; this one comes with %s", conds[0])
	}
	if !slices.Contains(Severities, r.Severity) {
		ps.add("severity", "must be one of %s, not %q", strings.Join(Severities, ", "), r.Severity)
	}
	for k := range r.Labels {
		if !labelRE.MatchString(k) {
			ps.add(join("labels", k), "a label name is 1 to 63 characters of a-z, 0-9 and _, not starting with a digit")
		}
	}
	seen := map[string]bool{}
	for i, c := range r.Channels {
		if c == "" || seen[c] {
			ps.add(fmt.Sprintf("channels[%d]", i), "must name a channel once")
		}
		seen[c] = true
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return r, nil
}

func hasProblemUnder(ps problems, path string) bool {
	for _, p := range ps {
		if p.Path == path || strings.HasPrefix(p.Path, path+".") {
			return true
		}
	}
	return false
}

// Check reports whether the aggregate value v (and whether there was one)
// crosses the threshold.
func (t *Threshold) Check(v float64, have bool) bool {
	if !have {
		return false
	}
	switch t.Op {
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case "==":
		return v == t.Value
	case "!=":
		return v != t.Value
	}
	return false
}
