package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// ErrClosed is returned by Publish and Subscribe after the broker was
// closed.
var ErrClosed = errors.New("pubsub: broker closed")

// Kind says what a Message carries.
type Kind uint8

// The kinds of message. Publishers send KindRecords and KindControl;
// KindLagged is made by the broker only.
const (
	// KindRecords carries one committed batch; Payload is a JSON Batch.
	KindRecords Kind = iota + 1
	// KindLagged tells a subscriber that Dropped messages of the topic
	// were lost because its buffer was full; it should reload its state
	// (the recent records) from the cache. Payload is nil.
	KindLagged
	// KindControl carries an event about the topic itself (the pipeline
	// was paused, changed or deleted); Payload is JSON defined by the
	// publisher.
	KindControl
)

// String returns the kind's name as used in SSE event names.
func (k Kind) String() string {
	switch k {
	case KindRecords:
		return "records"
	case KindLagged:
		return "lagged"
	case KindControl:
		return "control"
	default:
		return "unknown"
	}
}

// Message is one unit of fan-out. Its Payload is shared by every
// subscriber of the topic and must be treated as read-only.
type Message struct {
	// Topic is the topic the message was published on; Publish sets it.
	Topic string
	// Kind says what the message carries.
	Kind Kind
	// Payload is JSON: a Batch for KindRecords, nil for KindLagged.
	Payload []byte
	// Dropped is, for KindLagged, how many messages were lost since the
	// previous marker (at least 1). It is zero for other kinds.
	Dropped int
	// Team is the team owning the topic, when the publisher knows it. A
	// cluster broker carries it, so that a node can read a batch sent by
	// Pointer from the store.
	Team uuid.UUID
	// Pointer, when set on a KindRecords message, builds the Pointer that
	// stands for the payload when the transport cannot carry it (see
	// PointerOf). Without it a cluster broker decodes the payload, which
	// costs as much as the records' JSON is long.
	Pointer func() (Pointer, error)
}

// Batch is the payload of a KindRecords message: what one committed batch
// added to a pipeline. It is also what live streams send to API clients,
// so its JSON form is part of the public API.
type Batch struct {
	// Pipeline is the pipeline's id.
	Pipeline uuid.UUID `json:"pipeline"`
	// Version is the pipeline version that produced the records.
	Version int64 `json:"version"`
	// Count is the number of records in Records.
	Count int `json:"count"`
	// Rejected is how many records of the batch failed mapping or
	// validation; they are not in Records.
	Rejected int `json:"rejected"`
	// Records is the JSON array of the accepted records, encoded once by
	// the engine.
	Records json.RawMessage `json:"records"`
}

// PipelineTopic returns the topic of a pipeline's committed batches.
func PipelineTopic(pipeline uuid.UUID) string {
	return "pipeline:" + pipeline.String()
}

// TopicPipeline returns the pipeline of a topic made by PipelineTopic, and
// false for any other topic.
func TopicPipeline(topic string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(topic, "pipeline:")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

// Broker fans messages out from publishers to subscribers. Memory is the
// single-node implementation; a cluster implementation (PostgreSQL
// LISTEN/NOTIFY or Redis) satisfies the same contract across nodes.
//
// Lifecycle: a Broker is ready when its constructor returns and serves
// until Close. A subscription receives messages published after Subscribe
// returned, until it is closed — by Subscription.Close, by the end of the
// context given to Subscribe, or by closing the Broker — at which point
// its channel is closed. After Close, Publish and Subscribe return
// ErrClosed. All methods are safe for concurrent use.
type Broker interface {
	// Publish sends msg to every current subscriber of topic without
	// waiting for any of them: a subscriber whose buffer is full loses the
	// message and gets a KindLagged marker (see the package doc). It returns
	// an error only when msg cannot be published at all (closed broker,
	// invalid kind, ctx done, or a cluster transport failure); a topic
	// without subscribers is not an error.
	Publish(ctx context.Context, topic string, msg Message) error
	// Subscribe starts a subscription to topic with room for buffer
	// messages; buffer <= 0 means the broker's default. The subscription
	// ends when ctx ends or when it is closed.
	Subscribe(ctx context.Context, topic string, buffer int) (*Subscription, error)
	// Close ends every subscription and releases the broker's resources.
	Close() error
}
