package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// RecordsByIDReader is the store read behind LoadPointer: a pipeline's
// records by id ranges within event-time bounds, scoped to the team. Both
// store backends implement it (store.P2P.RecordsByID); PostgreSQL reads
// it from the primary.
type RecordsByIDReader interface {
	RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error)
}

// LoadPointer returns the pubsub.ClusterConfig.Load of a node: it reads
// the batch a pubsub.Pointer stands for from st and encodes it as the
// engine publishes batches. A batch whose records are not all found (a
// purge raced with it) is an error, so subscribers get a lag marker and
// reload.
func LoadPointer(st RecordsByIDReader) func(ctx context.Context, p pubsub.Pointer) ([]byte, error) {
	return func(ctx context.Context, p pubsub.Pointer) ([]byte, error) {
		if p.Team == uuid.Nil {
			return nil, fmt.Errorf("engine: load batch of pipeline %s: pointer has no team", p.Pipeline)
		}
		ranges := make([]store.RecordIDRange, len(p.IDs))
		for i, r := range p.IDs {
			ranges[i] = store.RecordIDRange{First: r[0], Last: r[1]}
		}
		recs, err := st.RecordsByID(ctx, p.Team, p.Pipeline, ranges, p.From, p.To)
		if err != nil {
			return nil, fmt.Errorf("engine: load batch of pipeline %s: %w", p.Pipeline, err)
		}
		if len(recs) != p.Count {
			return nil, fmt.Errorf("engine: load batch of pipeline %s: found %d of its %d records", p.Pipeline, len(recs), p.Count)
		}
		size := 128
		for _, r := range recs {
			size += len(r.Data) + 64
		}
		buf := make([]byte, 0, size)
		buf = append(buf, `{"pipeline":"`...)
		buf = append(buf, p.Pipeline.String()...)
		buf = append(buf, `","version":`...)
		buf = strconv.AppendInt(buf, p.Version, 10)
		buf = append(buf, `,"count":`...)
		buf = strconv.AppendInt(buf, int64(len(recs)), 10)
		buf = append(buf, `,"rejected":`...)
		buf = strconv.AppendInt(buf, int64(p.Rejected), 10)
		buf = append(buf, `,"records":[`...)
		for i, r := range recs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendRecord(buf, r.ID, r.TS, r.Data)
		}
		return append(buf, "]}"...), nil
	}
}

// CacheObserver returns the pubsub.ClusterConfig.Observe and Reset of a
// node: batches committed on other nodes go into the recent-records cache
// as the engine puts its own there; a topic that lost messages, or a
// pipeline deleted on another node, drops the pipeline's entries, and a
// reset or a retention run on another node (CacheTopic) drops every
// pipeline's, so they refill from the store on the next read.
func CacheObserver(c *cache.Memory) (observe func(pubsub.Message), reset func()) {
	observe = func(msg pubsub.Message) {
		switch msg.Kind {
		case pubsub.KindRecords:
			var b struct {
				Pipeline uuid.UUID `json:"pipeline"`
				Records  []struct {
					ID   int64           `json:"id"`
					TS   time.Time       `json:"ts"`
					Data json.RawMessage `json:"data"`
				} `json:"records"`
			}
			if err := json.Unmarshal(msg.Payload, &b); err != nil {
				if id, ok := pubsub.TopicPipeline(msg.Topic); ok {
					c.Forget(id) // cannot tell what it held: reload
				}
				return
			}
			if len(b.Records) == 0 {
				return
			}
			entries := make([]cache.Entry, len(b.Records))
			for i, r := range b.Records {
				entries[i] = cache.Entry{ID: r.ID, TS: r.TS, Data: r.Data}
			}
			c.Add(b.Pipeline, entries...)
		case pubsub.KindLagged:
			if id, ok := pubsub.TopicPipeline(msg.Topic); ok {
				c.Forget(id)
			}
		case pubsub.KindControl:
			if msg.Topic == CacheTopic { // retention ran on another node
				c.Reset()
				return
			}
			// Another node deleted the pipeline: drop its records here too.
			var ev struct {
				Event string `json:"event"`
			}
			if json.Unmarshal(msg.Payload, &ev) == nil && ev.Event == "deleted" {
				if id, ok := pubsub.TopicPipeline(msg.Topic); ok {
					c.Forget(id)
				}
			}
		}
	}
	return observe, c.Reset
}

// CacheTopic is the broker topic on which a node tells the others that
// retention deleted records, so that they drop their recent records and
// refill them from the store. No live stream subscribes to it.
const CacheTopic = "cache:retention"

// RetentionApplied keeps the recent-records cache within what retention
// left in the store: cutoffs maps each pipeline to the event time before
// which its records were deleted. This node trims its own cache; when
// deleted says that the run removed records, the other nodes of a cluster
// are told, and drop their caches to refill them from the store.
func (e *Engine) RetentionApplied(ctx context.Context, cutoffs map[uuid.UUID]time.Time, deleted bool) {
	if e.cache != nil {
		for id, before := range cutoffs {
			if !before.IsZero() {
				e.cache.Trim(id, before)
			}
		}
	}
	if !deleted || e.broker == nil {
		return
	}
	msg := pubsub.Message{Kind: pubsub.KindControl, Payload: []byte(`{"event":"retention"}`)}
	if err := e.broker.Publish(context.WithoutCancel(ctx), CacheTopic, msg); err != nil && !errors.Is(err, pubsub.ErrClosed) {
		e.log.Warn("engine: tell the cluster that retention deleted records", "err", err)
	}
}
