package store

import (
	"context"
	"time"
)

// Nodes is the membership of a cluster: every `tributary serve` process
// registers itself and renews its row with a heartbeat; a node whose
// heartbeat stopped is expired. The rules (intervals, who may list) belong
// to the caller (package cluster).
type Nodes interface {
	// BeatNode registers n or renews its row: every field is written, the
	// first start time is kept.
	BeatNode(ctx context.Context, n Node) error
	// ListNodes returns the nodes whose heartbeat is at or after
	// aliveAfter, oldest start first, each marked Leader when it is River's
	// elected leader now.
	ListNodes(ctx context.Context, aliveAfter time.Time) ([]Node, error)
	// DeleteNode removes a node (a clean stop).
	DeleteNode(ctx context.Context, id string) error
	// DeleteStaleNodes removes the nodes whose last heartbeat is before
	// before and returns how many.
	DeleteStaleNodes(ctx context.Context, before time.Time) (int, error)
}

// Node is one process of a cluster as it last reported itself.
type Node struct {
	// ID is unique per process (also River's client id, which tells the
	// leader).
	ID      string
	Version string
	// Address is where the node serves HTTP, as it sees itself.
	Address   string
	StartedAt time.Time
	// HeartbeatAt is the node's last heartbeat.
	HeartbeatAt time.Time
	// Draining is true once the node was told to stop.
	Draining bool
	Load     NodeLoad
	// Leader is set by ListNodes: the node is River's elected leader.
	Leader bool
}

// NodeLoad is what a node reports of its load with each heartbeat.
type NodeLoad struct {
	// Requests is the number of HTTP requests in flight (live streams
	// included).
	Requests int64 `json:"requests"`
	// Streams is the number of open live streams.
	Streams int64 `json:"streams"`
	// Goroutines and HeapBytes describe the process.
	Goroutines int   `json:"goroutines"`
	HeapBytes  int64 `json:"heap_bytes"`
	// Replicas is how the node sees its read replicas.
	Replicas []NodeReplica `json:"replicas,omitempty"`
}

// NodeReplica is a node's view of one read replica at its heartbeat.
type NodeReplica struct {
	// Name is the replica's host:port.
	Name string `json:"name"`
	// LagSeconds is the replica's lag at the node's last check; nil when
	// the replica does not answer.
	LagSeconds *float64 `json:"lag_seconds"`
	// Serving is true when the node sends reads to it.
	Serving bool `json:"serving"`
}
