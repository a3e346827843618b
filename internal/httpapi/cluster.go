package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cluster"
	"github.com/tributary-dev/tributary/internal/store"
)

// ClusterService lists the nodes of the cluster (cluster.Membership).
type ClusterService interface {
	Nodes(ctx context.Context, p *account.Principal) (cluster.Status, error)
}

// ClusterBody is the answer of GET /api/v1/cluster.
type ClusterBody struct {
	Self               string     `json:"self" doc:"The id of the node that answered."`
	HeartbeatSeconds   float64    `json:"heartbeat_seconds" doc:"How often nodes renew their registration."`
	ExpireAfterSeconds float64    `json:"expire_after_seconds" doc:"How long after its last heartbeat a node is dropped."`
	Nodes              []NodeBody `json:"nodes"`
}

// NodeBody is one node of the cluster.
type NodeBody struct {
	ID                  string       `json:"id"`
	Version             string       `json:"version"`
	Address             string       `json:"address" doc:"Where the node serves HTTP, as it sees itself."`
	StartedAt           time.Time    `json:"started_at"`
	HeartbeatAt         time.Time    `json:"heartbeat_at"`
	HeartbeatAgeSeconds float64      `json:"heartbeat_age_seconds"`
	Leader              bool         `json:"leader" doc:"The node is the job queue's elected leader (River), which runs periodic and maintenance work."`
	Draining            bool         `json:"draining" doc:"The node was told to stop and takes no new work."`
	Self                bool         `json:"self" doc:"The node that answered."`
	Load                NodeLoadBody `json:"load"`
}

// NodeLoadBody is a node's load at its last heartbeat.
type NodeLoadBody struct {
	Requests   int64             `json:"requests" doc:"HTTP requests in flight, live streams included."`
	Streams    int64             `json:"streams" doc:"Open live streams."`
	Goroutines int               `json:"goroutines"`
	HeapBytes  int64             `json:"heap_bytes"`
	Replicas   []NodeReplicaBody `json:"replicas,omitempty" doc:"The node's read replicas as it sees them (PostgreSQL with TRIBUTARY_DATABASE_READ_URL)."`
}

// NodeReplicaBody is a node's view of one read replica.
type NodeReplicaBody struct {
	Name       string   `json:"name" doc:"The replica's host:port."`
	LagSeconds *float64 `json:"lag_seconds" doc:"Replication lag at the node's last check; null when the replica does not answer."`
	Serving    bool     `json:"serving" doc:"The node sends reads to it: it answers within the lag bound."`
}

// nodeLoadBody is the wire form of a node's load.
func nodeLoadBody(l store.NodeLoad) NodeLoadBody {
	out := NodeLoadBody{Requests: l.Requests, Streams: l.Streams, Goroutines: l.Goroutines, HeapBytes: l.HeapBytes}
	for _, r := range l.Replicas {
		out.Replicas = append(out.Replicas, NodeReplicaBody(r))
	}
	return out
}

// RegisterCluster adds GET /api/v1/cluster.
func (s *Server) RegisterCluster(svc ClusterService) {
	huma.Register(s.api, huma.Operation{
		OperationID: "get-cluster", Method: http.MethodGet, Path: "/api/v1/cluster", Tags: []string{"Cluster"},
		Summary:     "The nodes of the cluster",
		Description: "Every live node: version, address, heartbeat, whether it is the job queue's leader or draining, and its load. Instance administrators only.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body ClusterBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := svc.Nodes(ctx, p)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &struct{ Body ClusterBody }{Body: ClusterBody{Self: st.Self, HeartbeatSeconds: st.Heartbeat.Seconds(),
			ExpireAfterSeconds: st.ExpireAfter.Seconds(), Nodes: make([]NodeBody, len(st.Nodes))}}
		for i, n := range st.Nodes {
			out.Body.Nodes[i] = NodeBody{ID: n.ID, Version: n.Version, Address: n.Address, StartedAt: n.StartedAt,
				HeartbeatAt: n.HeartbeatAt, HeartbeatAgeSeconds: n.HeartbeatAge.Seconds(), Leader: n.Leader,
				Draining: n.Draining, Self: n.Self, Load: nodeLoadBody(n.Load)}
		}
		return out, nil
	})
}
