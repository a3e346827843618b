package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
)

// The subscriptions follow the live stream of a pipeline as the SSE
// stream of internal/httpapi does: the pipeline service authorizes the
// caller (another team's pipeline is NOT_FOUND, and the subscription
// closes with that error), the broker subscription starts before the
// recent-records cache is read (no batch committed meanwhile is lost),
// and a subscriber whose buffer overflowed gets the broker's lag marker
// and then the cache again.

// subscribe authorizes the caller on the pipeline and subscribes to its
// topic until ctx ends.
func (r *Resolver) subscribe(ctx context.Context, pipelineID string, team *string) (core.Pipeline, *pubsub.Subscription, error) {
	if r.deps.Broker == nil || r.deps.Recent == nil {
		return core.Pipeline{}, nil, &orchestrator.Error{Kind: orchestrator.ErrUnavailable, Msg: "This server does not serve live streams over GraphQL."}
	}
	who, pid, err := pipelineArgs(ctx, pipelineID, team)
	if err != nil {
		return core.Pipeline{}, nil, err
	}
	p, err := r.svc.Pipeline(ctx, who, pid)
	if err != nil {
		return p, nil, err
	}
	sub, err := r.deps.Broker.Subscribe(ctx, pubsub.PipelineTopic(p.ID), r.opts.SubscriptionBuffer)
	if err != nil {
		return p, nil, err
	}
	return p, sub, nil
}

// recordsStream serves Subscription.records.
func (r *Resolver) recordsStream(ctx context.Context, pipelineID string, team *string) (<-chan *RecordsEvent, error) {
	p, sub, err := r.subscribe(ctx, pipelineID, team)
	if err != nil {
		return nil, err
	}
	if r.deps.Warmer != nil {
		if err := r.deps.Warmer.Warm(ctx, p); err != nil {
			sub.Close()
			return nil, err
		}
	}
	id := p.ID.String()
	ch := make(chan *RecordsEvent, 1)
	go func() {
		defer close(ch)
		defer sub.Close()
		send := func(ev *RecordsEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		recent := func() *RecordsEvent {
			entries := r.deps.Recent.Recent(p.ID, 0)
			data := []byte{'['}
			for i, e := range slices.Backward(entries) {
				if i < len(entries)-1 {
					data = append(data, ',')
				}
				data = engine.AppendRecord(data, e.ID, e.TS, e.Data)
			}
			return &RecordsEvent{Kind: RecordsEventKindRecent, PipelineID: id, Count: len(entries), Records: append(data, ']')}
		}
		if !send(recent()) {
			return
		}
		for msg := range sub.C() {
			switch msg.Kind {
			case pubsub.KindRecords:
				b, ok := batchOf(msg.Payload)
				if !ok {
					continue
				}
				v := int(b.Version)
				if !send(&RecordsEvent{Kind: RecordsEventKindRecords, PipelineID: id, Version: &v, Count: b.Count, Rejected: b.Rejected, Records: b.Records}) {
					return
				}
			case pubsub.KindLagged:
				n := msg.Dropped
				if !send(&RecordsEvent{Kind: RecordsEventKindLagged, PipelineID: id, Lagged: &n}) || !send(recent()) {
					return
				}
			case pubsub.KindControl:
				var c orchestrator.Control
				if json.Unmarshal(msg.Payload, &c) == nil && c.Event == "deleted" {
					return
				}
			}
		}
	}()
	return ch, nil
}

// statusStream serves Subscription.pipelineStatus.
func (r *Resolver) statusStream(ctx context.Context, pipelineID string, team *string) (<-chan *PipelineStatusEvent, error) {
	p, sub, err := r.subscribe(ctx, pipelineID, team)
	if err != nil {
		return nil, err
	}
	id := p.ID.String()
	status, version := string(p.Status), p.Version
	ch := make(chan *PipelineStatusEvent, 1)
	go func() {
		defer close(ch)
		defer sub.Close()
		send := func(ev *PipelineStatusEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		now := func(kind PipelineStatusEventKind) *PipelineStatusEvent {
			return &PipelineStatusEvent{Kind: kind, PipelineID: id, Status: new(status), Version: new(version)}
		}
		if !send(now(PipelineStatusEventKindStatus)) {
			return
		}
		for msg := range sub.C() {
			var ev *PipelineStatusEvent
			switch msg.Kind {
			case pubsub.KindRecords:
				b, ok := batchOf(msg.Payload)
				if !ok {
					continue
				}
				ev = now(PipelineStatusEventKindBatch)
				ev.Version, ev.Stored, ev.Rejected = new(int(b.Version)), new(b.Count), new(b.Rejected)
			case pubsub.KindLagged:
				ev = now(PipelineStatusEventKindLagged)
				ev.Lagged = new(msg.Dropped)
			case pubsub.KindControl:
				var c orchestrator.Control
				if json.Unmarshal(msg.Payload, &c) != nil {
					continue
				}
				if c.Version != 0 {
					version = c.Version
				}
				switch c.Event {
				case "paused":
					status = string(core.StatusPaused)
					ev = now(PipelineStatusEventKindPaused)
				case "resumed":
					status = string(core.StatusActive)
					ev = now(PipelineStatusEventKindResumed)
				case "updated":
					ev = now(PipelineStatusEventKindUpdated)
				case "deleted":
					send(&PipelineStatusEvent{Kind: PipelineStatusEventKindDeleted, PipelineID: id})
					return
				default:
					continue
				}
			}
			if ev != nil && !send(ev) {
				return
			}
		}
	}()
	return ch, nil
}

// batchOf reads a pubsub.Batch payload. The engine writes the records
// array last ({"pipeline":…,"version":…,"count":…,"rejected":…,"records":[…]}),
// so its header decodes without the records, which are sliced out of the
// shared payload rather than copied: every subscriber of a pipeline gets
// the same bytes. Another layout falls back to decoding the whole.
func batchOf(payload []byte) (pubsub.Batch, bool) {
	var b pubsub.Batch
	const key = `,"records":`
	if i := bytes.Index(payload, []byte(key)); i > 0 && len(payload) > i+len(key)+1 && payload[len(payload)-1] == '}' && payload[i+len(key)] == '[' {
		head := make([]byte, 0, i+1)
		head = append(append(head, payload[:i]...), '}')
		if err := json.Unmarshal(head, &b); err == nil {
			b.Records = payload[i+len(key) : len(payload)-1]
			return b, true
		}
	}
	if err := json.Unmarshal(payload, &b); err != nil {
		return b, false
	}
	return b, true
}
