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
		// pending is the RECORDS event waiting for the client: batches
		// that arrive while the client is still being sent the previous
		// event join it (up to maxCoalescedBytes of records), so a client
		// that falls behind gets fewer, larger messages and catches up
		// instead of queueing one message per batch. A client that keeps
		// up gets every batch as its own event, at once.
		var pending *RecordsEvent
		owned := false // pending.Records is our own copy, not the broker's shared payload
		in := sub.C()
		for {
			var out chan<- *RecordsEvent
			if pending != nil {
				out = ch
			}
			select {
			case out <- pending:
				pending, owned = nil, false
				continue
			case <-ctx.Done():
				return
			case msg, ok := <-in:
				if !ok {
					if pending != nil {
						send(pending)
					}
					return
				}
				if msg.Kind != pubsub.KindRecords && pending != nil {
					// Other events keep their order after the records.
					if !send(pending) {
						return
					}
					pending, owned = nil, false
				}
				switch msg.Kind {
				case pubsub.KindRecords:
					b, ok := batchOf(msg.Payload)
					if !ok {
						continue
					}
					v := int(b.Version)
					if pending != nil && len(pending.Records)+len(b.Records) <= maxCoalescedBytes {
						pending.Records, owned = joinArrays(pending.Records, b.Records, owned)
						pending.Version, pending.Count, pending.Rejected = &v, pending.Count+b.Count, pending.Rejected+b.Rejected
						continue
					}
					if pending != nil && !send(pending) {
						return
					}
					pending, owned = &RecordsEvent{Kind: RecordsEventKindRecords, PipelineID: id, Version: &v, Count: b.Count, Rejected: b.Rejected, Records: b.Records}, false
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

// maxCoalescedBytes bounds the records of one RECORDS event made of
// several batches (a single batch larger than that is sent as it is).
const maxCoalescedBytes = 256 << 10

// joinArrays joins two JSON arrays into one. a is extended in place only
// when owned (our own copy): the broker's payloads are shared by every
// subscriber and never written. It returns the joined array, which is
// owned.
func joinArrays(a, b []byte, owned bool) ([]byte, bool) {
	bi := bytes.TrimSpace(b)
	if len(bi) < 2 || string(bi) == "[]" {
		return a, owned
	}
	ai := bytes.TrimSpace(a)
	if len(ai) < 2 || string(ai) == "[]" {
		return b, false
	}
	var out []byte
	if owned {
		out = ai[:len(ai)-1]
	} else {
		out = make([]byte, 0, 2*(len(ai)+len(bi)))
		out = append(out, ai[:len(ai)-1]...)
	}
	out = append(out, ',')
	out = append(out, bi[1:]...)
	return out, true
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
