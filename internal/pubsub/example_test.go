package pubsub_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pubsub"
)

// A stream handler subscribes to a pipeline, forwards each batch as it is
// and reloads from the cache when it lagged.
func Example() {
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	pipeline := uuid.MustParse("0194f1d2-0000-7000-8000-000000000001")
	topic := pubsub.PipelineTopic(pipeline)

	ctx, cancel := context.WithCancel(context.Background()) // the request's context
	defer cancel()
	sub, err := broker.Subscribe(ctx, topic, 16)
	if err != nil {
		panic(err)
	}

	// The engine, after committing a batch and updating the cache:
	payload, _ := json.Marshal(pubsub.Batch{
		Pipeline: pipeline, Version: 1, Count: 1,
		Records: json.RawMessage(`[{"ts":"2026-01-01T00:00:00Z","temperature_c":21.5}]`),
	})
	broker.Publish(context.Background(), topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: payload})

	msg := <-sub.C()
	switch msg.Kind {
	case pubsub.KindRecords:
		fmt.Printf("event: %s\ndata: %s\n", msg.Kind, msg.Payload)
	case pubsub.KindLagged:
		fmt.Printf("missed %d batches: reload the recent records from the cache\n", msg.Dropped)
	}
	// Output:
	// event: records
	// data: {"pipeline":"0194f1d2-0000-7000-8000-000000000001","version":1,"count":1,"rejected":0,"records":[{"ts":"2026-01-01T00:00:00Z","temperature_c":21.5}]}
}
