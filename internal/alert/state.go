package alert

import "time"

// State is where a rule stands for one pipeline.
type State string

// States. A rule starts ok; its condition holding makes it pending, and
// firing once it held for the rule's pending period ("for"; at once when
// that is 0); the condition ending makes a firing rule resolved, and a
// resolved rule ok at the next evaluation that finds the condition still
// over (or pending again if it came back).
const (
	StateOK       State = "ok"
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Current is a rule's state for one pipeline, as Step reads and returns
// it.
type Current struct {
	State State
	Since time.Time // when State began
	// NotifiedAt is when the firing state was last notified (the firing
	// transition or a repeat); Repeats counts the repeats.
	NotifiedAt *time.Time
	Repeats    int
}

// Outcome is what one evaluation did to a rule's state.
type Outcome struct {
	Next Current
	// Changed reports a transition from the state before to Next.State.
	Changed bool
	// Notify says the transition (firing, resolved) or a repeat should be
	// sent to the rule's channels.
	Notify bool
	// Repeat is set for a repeated notification of a firing state (not a
	// transition).
	Repeat bool
}

// Step is the state machine: given the state before, whether the
// condition holds at now, the pending period and the repeat interval (0:
// no repeats), it returns the state after. It is pure: time comes in as
// now.
func Step(cur Current, holds bool, now time.Time, pending, repeat time.Duration) Outcome {
	if cur.State == "" {
		cur = Current{State: StateOK, Since: now}
	}
	to := func(s State) Outcome {
		next := Current{State: s, Since: now}
		o := Outcome{Next: next, Changed: true}
		switch s {
		case StateFiring:
			o.Notify = true
			o.Next.NotifiedAt = &now
		case StateResolved:
			o.Notify = true
		}
		return o
	}
	switch cur.State {
	case StateOK, StateResolved:
		if holds {
			if pending <= 0 {
				return to(StateFiring)
			}
			return to(StatePending)
		}
		if cur.State == StateResolved {
			return Outcome{Next: Current{State: StateOK, Since: now}, Changed: true}
		}
	case StatePending:
		if !holds {
			return Outcome{Next: Current{State: StateOK, Since: now}, Changed: true}
		}
		if !now.Before(cur.Since.Add(pending)) {
			return to(StateFiring)
		}
	case StateFiring:
		if !holds {
			return to(StateResolved)
		}
		if repeat > 0 && cur.NotifiedAt != nil && !now.Before(cur.NotifiedAt.Add(repeat)) {
			next := cur
			next.NotifiedAt = &now
			next.Repeats++
			return Outcome{Next: next, Notify: true, Repeat: true}
		}
	}
	return Outcome{Next: cur}
}
