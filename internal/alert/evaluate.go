package alert

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

// Result says what one evaluation did.
type Result struct {
	Rules       int // rules evaluated (rules already evaluated at the tick are not counted)
	Transitions int
	Queries     int // store calls made
	Took        time.Duration
}

// Evaluate evaluates every enabled rule not yet evaluated at tick, in
// batches: per batch one call loads the rules, then one call each reads the
// pipelines' facts, the rules' states, the silences and channels, one per
// distinct window the run counts or the rollup aggregates, and one call
// writes the results. A rule evaluated at tick already (by another node,
// or before a crash) is skipped, so each rule is evaluated once per tick.
func (s *Service) Evaluate(ctx context.Context, tick time.Time) (Result, error) {
	start := time.Now()
	tick = tick.UTC()
	var res Result
	after := uuid.Nil
	for {
		rules, err := s.d.Store.DueAlertRules(ctx, tick, after, s.cfg.BatchSize)
		res.Queries++
		if err != nil {
			return res, err
		}
		if len(rules) == 0 {
			break
		}
		after = rules[len(rules)-1].ID
		if err := s.evaluateBatch(ctx, tick, rules, &res); err != nil {
			return res, err
		}
		if len(rules) < s.cfg.BatchSize {
			break
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

type ruleKey struct{ rule, pipe uuid.UUID }

type chanKey struct {
	team uuid.UUID
	name string
}

type windowReads struct {
	pipes  map[uuid.UUID]bool
	fields map[string]bool
}

func (w *windowReads) add(p uuid.UUID, field string) {
	if w.pipes == nil {
		w.pipes, w.fields = map[uuid.UUID]bool{}, map[string]bool{}
	}
	w.pipes[p] = true
	if field != "" {
		w.fields[field] = true
	}
}

func keys[K comparable](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

type aggKey struct {
	window time.Duration
	pipe   uuid.UUID
	field  string
}

type runKey struct {
	window time.Duration
	pipe   uuid.UUID
}

func (s *Service) evaluateBatch(ctx context.Context, tick time.Time, rows []store.AlertRule, res *Result) error {
	st := s.d.Store
	type loaded struct {
		row  store.AlertRule
		rule *Rule
	}
	rules := make([]loaded, 0, len(rows))
	teamSet := map[uuid.UUID]bool{}
	ruleIDs := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		rule, err := ParseRule(r.Spec)
		if err != nil {
			s.log.WarnContext(ctx, "alert rule does not decode; skipped", "rule", r.ID, "err", err)
		}
		rules = append(rules, loaded{row: r, rule: rule})
		teamSet[r.TeamID] = true
		ruleIDs = append(ruleIDs, r.ID)
	}
	teams := keys(teamSet)

	facts, err := st.AlertFacts(ctx, teams)
	res.Queries++
	if err != nil {
		return err
	}
	byPipe := make(map[uuid.UUID]*store.AlertPipelineFacts, len(facts))
	byTeam := map[uuid.UUID][]*store.AlertPipelineFacts{}
	for i := range facts {
		f := &facts[i]
		byPipe[f.ID] = f
		byTeam[f.TeamID] = append(byTeam[f.TeamID], f)
	}
	targets := func(l loaded) []*store.AlertPipelineFacts {
		if l.row.PipelineID == uuid.Nil {
			return byTeam[l.row.TeamID]
		}
		if f := byPipe[l.row.PipelineID]; f != nil && f.TeamID == l.row.TeamID {
			return []*store.AlertPipelineFacts{f}
		}
		return nil
	}

	// What to read, grouped by window.
	runWindows := map[time.Duration]*windowReads{}
	aggWindows := map[time.Duration]*windowReads{}
	for _, l := range rules {
		if l.rule == nil {
			continue
		}
		w := l.rule.Window()
		var reads map[time.Duration]*windowReads
		field := ""
		switch l.rule.Type {
		case TypeNoData, TypeRejectedRatio:
			reads = runWindows
		case TypeThreshold:
			reads, field = aggWindows, l.rule.Threshold.Field
		default:
			continue
		}
		if reads[w] == nil {
			reads[w] = &windowReads{}
		}
		for _, f := range targets(l) {
			reads[w].add(f.ID, field)
		}
	}
	runs := map[runKey]store.AlertRunCounts{}
	for w, r := range runWindows {
		counts, err := st.AlertRunCounts(ctx, teams, keys(r.pipes), tick.Add(-w))
		res.Queries++
		if err != nil {
			return err
		}
		for _, c := range counts {
			runs[runKey{w, c.PipelineID}] = c
		}
	}
	aggs := map[aggKey]store.AlertAggregate{}
	for w, r := range aggWindows {
		as, err := st.AlertAggregates(ctx, teams, keys(r.pipes), keys(r.fields), tick.Add(-w))
		res.Queries++
		if err != nil {
			return err
		}
		for _, a := range as {
			aggs[aggKey{w, a.PipelineID, a.Field}] = a
		}
	}

	states, err := st.AlertStatesOf(ctx, teams, ruleIDs)
	res.Queries++
	if err != nil {
		return err
	}
	cur := make(map[ruleKey]store.AlertState, len(states))
	for _, a := range states {
		cur[ruleKey{a.RuleID, a.PipelineID}] = a
	}
	silences, err := st.ActiveAlertSilences(ctx, teams, tick)
	res.Queries++
	if err != nil {
		return err
	}
	channels, err := st.AlertChannelsOf(ctx, teams)
	res.Queries++
	if err != nil {
		return err
	}
	chans := make(map[chanKey]uuid.UUID, len(channels))
	for _, c := range channels {
		chans[chanKey{c.TeamID, c.Name}] = c.ID
	}

	evs := make([]store.AlertEvaluation, 0, len(rules))
	for _, l := range rules {
		ev := store.AlertEvaluation{TeamID: l.row.TeamID, RuleID: l.row.ID}
		if l.rule != nil {
			for _, f := range targets(l) {
				holds, value, msg := s.condition(l.rule, f, tick, runs, aggs)
				key := ruleKey{l.row.ID, f.ID}
				prev, had := cur[key]
				c := Current{State: StateOK, Since: tick}
				if had {
					c = Current{State: State(prev.State), Since: prev.Since, NotifiedAt: prev.NotifiedAt, Repeats: prev.Repeats}
				}
				out := Step(c, holds, tick, l.rule.For, l.rule.Repeat)
				if !out.Changed && !out.Repeat {
					continue
				}
				next := store.AlertState{
					RuleID: l.row.ID, TeamID: l.row.TeamID, PipelineID: f.ID, State: string(out.Next.State), Since: out.Next.Since,
					Value: value, NotifiedAt: out.Next.NotifiedAt, Repeats: out.Next.Repeats, FiringTransition: prev.FiringTransition,
				}
				silenced := silencedBy(silences, l.row.TeamID, l.row.ID, f.ID)
				transition := next.FiringTransition
				repeat := 0
				if out.Changed {
					t := store.AlertTransition{
						ID: uuid.Must(uuid.NewV7()), TeamID: l.row.TeamID, RuleID: l.row.ID, RuleName: l.row.Name,
						PipelineID: f.ID, PipelineName: f.Name, From: string(c.State), To: string(out.Next.State), At: tick,
						Value: value, Message: msg, Severity: l.rule.Severity, Silenced: silenced && out.Notify,
					}
					ev.Transitions = append(ev.Transitions, t)
					transition = t.ID
					if out.Next.State == StateFiring {
						next.FiringTransition = t.ID
					}
				} else {
					repeat = out.Next.Repeats
				}
				ev.States = append(ev.States, next)
				if out.Notify && !silenced && transition != uuid.Nil {
					for _, name := range l.rule.Channels {
						id, ok := chans[chanKey{l.row.TeamID, name}]
						if !ok {
							continue // deleted since the rule was saved
						}
						ev.Jobs = append(ev.Jobs, s.notifyJob(NotifyArgs{TeamID: l.row.TeamID, Channel: id, Transition: transition, Repeat: repeat}))
					}
				}
			}
		}
		res.Transitions += len(ev.Transitions)
		evs = append(evs, ev)
	}
	n, err := st.ApplyAlertEvaluation(ctx, tick, evs)
	res.Queries++
	if err != nil {
		return err
	}
	res.Rules += n
	return nil
}

func silencedBy(ss []store.AlertSilence, team, rule, pipe uuid.UUID) bool {
	return slices.ContainsFunc(ss, func(s store.AlertSilence) bool {
		return s.TeamID == team && (s.RuleID == uuid.Nil || s.RuleID == rule) && (s.PipelineID == uuid.Nil || s.PipelineID == pipe) &&
			(s.RuleID != uuid.Nil || s.PipelineID != uuid.Nil)
	})
}

// condition evaluates a rule's condition on one pipeline: whether it holds,
// the value it looked at, and a sentence saying so.
func (s *Service) condition(r *Rule, f *store.AlertPipelineFacts, tick time.Time, runs map[runKey]store.AlertRunCounts, aggs map[aggKey]store.AlertAggregate) (bool, float64, string) {
	switch r.Type {
	case TypeFailing:
		switch {
		case f.Status == "failing":
			return true, 1, fmt.Sprintf("Pipeline %s is failing.", f.Name)
		case f.FailingSinks > 0:
			return true, float64(f.FailingSinks), fmt.Sprintf("Pipeline %s has %d sink(s) failing or with dead deliveries.", f.Name, f.FailingSinks)
		}
		return false, 0, fmt.Sprintf("Pipeline %s is healthy.", f.Name)
	case TypeNoData:
		// Quiet means no stored record has an event time in the window
		// (the pipeline row's last_record_at, kept in each batch's
		// transaction) and no run that started in the window brought a
		// record. The first sees records arriving in a push run that
		// started before the window; the second sees pipelines that
		// persist nothing and data whose event times lag behind.
		w := r.NoData.Window
		from := tick.Add(-w)
		c := runs[runKey{w, f.ID}]
		n := c.Fetched + c.Stored
		if f.Status == "paused" || f.CreatedAt.After(from) {
			return false, float64(n), fmt.Sprintf("Pipeline %s is paused or younger than %s.", f.Name, w)
		}
		if f.LastRecordAt != nil && !f.LastRecordAt.Before(from) {
			age := max(tick.Sub(*f.LastRecordAt), 0)
			return false, age.Seconds(), fmt.Sprintf("Pipeline %s stored a record with an event time %s ago.", f.Name, age.Round(time.Second))
		}
		if n == 0 {
			return true, 0, fmt.Sprintf("Pipeline %s received no record for %s.", f.Name, w)
		}
		return false, float64(n), fmt.Sprintf("Pipeline %s received %d record(s) in the last %s.", f.Name, n, w)
	case TypeRejectedRatio:
		c := r.RejectedRatio
		rc := runs[runKey{c.Window, f.ID}]
		total := max(rc.Fetched, rc.Stored+rc.Rejected)
		if total < c.MinRecords || total == 0 {
			return false, 0, fmt.Sprintf("Pipeline %s had %d record(s) in the last %s, fewer than %d.", f.Name, total, c.Window, c.MinRecords)
		}
		ratio := float64(rc.Rejected) / float64(total)
		return ratio > c.Above, ratio, fmt.Sprintf("Pipeline %s rejected %.1f%% of %d record(s) in the last %s (limit %.1f%%).",
			f.Name, 100*ratio, total, c.Window, 100*c.Above)
	case TypeThreshold:
		t := r.Threshold
		a, ok := aggs[aggKey{t.Window, f.ID, t.Field}]
		var v float64
		have := ok && a.Count > 0
		switch t.Aggregate {
		case "avg":
			if have {
				v = a.Sum / float64(a.Count)
			}
		case "min":
			v = a.Min
		case "max":
			v = a.Max
		case "sum":
			v, have = a.Sum, true
		case "count":
			v, have = float64(a.Count), true
		case "last":
			v = a.Last
		}
		if !have {
			return false, 0, fmt.Sprintf("Pipeline %s has no value of %s in the last %s.", f.Name, t.Field, t.Window)
		}
		return t.Check(v, true), v, fmt.Sprintf("%s(%s) of pipeline %s over the last %s is %g (threshold %s %g).",
			t.Aggregate, t.Field, f.Name, t.Window, v, t.Op, t.Value)
	}
	return false, 0, ""
}
