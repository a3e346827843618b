package client

import (
	"context"
	"net/http"
)

// Cluster lists the nodes of the cluster (operation get-cluster; instance
// administrators only).
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var out Cluster
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/cluster"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
