// Package cluster is the membership of the nodes of a cluster: each
// `tributary serve` process registers itself in the store (id, version,
// address, start time, load) and renews its row with a heartbeat; a node
// whose heartbeat stopped expires. Membership also carries the node's
// drain state: once told to stop, the node reports itself not ready
// (ErrDraining) and draining in its row, so load balancers and other nodes
// move away before it closes.
//
// Nodes lists the cluster for instance administrators: every live node,
// which is River's elected leader, how old its heartbeat is and its load.
package cluster
