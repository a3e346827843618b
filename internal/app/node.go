package app

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

// readiness is ready when every part is; the first that is not says why.
type readiness []httpapi.Readiness

// Ready implements httpapi.Readiness.
func (r readiness) Ready(ctx context.Context) error {
	var errs []error
	for _, p := range r {
		if err := p.Ready(ctx); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// nodeLoad counts the HTTP requests in flight, and among them the live
// streams, for the node's heartbeat.
type nodeLoad struct {
	requests, streams atomic.Int64
	// replicas, when set, reports the read replicas' state.
	replicas func() []postgres.ReplicaStatus
}

// count wraps the server's handler.
func (l *nodeLoad) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		defer l.requests.Add(-1)
		if isStream(r) {
			l.streams.Add(1)
			defer l.streams.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// isStream tells the long-lived responses: SSE streams of pipelines and
// of the pages, and GraphQL subscriptions over WebSocket.
func isStream(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	return strings.HasSuffix(r.URL.Path, "/stream") || r.URL.Path == "/pipelines/live" ||
		r.URL.Path == "/graphql" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (l *nodeLoad) report() store.NodeLoad {
	out := store.NodeLoad{Requests: l.requests.Load(), Streams: l.streams.Load()}
	if l.replicas != nil {
		for _, r := range l.replicas() {
			nr := store.NodeReplica{Name: r.Name, Serving: r.Serving}
			if r.Healthy && r.Lag != math.MaxInt64 {
				lag := r.Lag.Seconds()
				nr.LagSeconds = &lag
			}
			out.Replicas = append(out.Replicas, nr)
		}
	}
	return out
}

// advertised is the address the node reports: the listen address, with
// the host name in place of an unspecified IP.
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// recentCache is the recent-records cache as the engine, the API, GraphQL
// and the pipeline service use it: *cache.Memory, or *cache.Redis in a
// cluster with Redis.
type recentCache interface {
	engine.Cache
	httpapi.RecentRecords
}
