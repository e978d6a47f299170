package runtime

import "github.com/cameo-go/cameo/client"

// The node API's vocabulary lives in the leaf package client, so that a
// program that only talks to a node imports none of the engine; these
// aliases make the same types the runtime's.
type (
	State         = client.State
	QueryStats    = client.QueryStats
	RecentStats   = client.RecentStats
	OperatorStats = client.OperatorStats
	TenantStats   = client.TenantStats
	BadInput      = client.BadInput
	PeerInfo      = client.PeerInfo
	ClusterInfo   = client.ClusterInfo
)

// The states of a query (client.State).
const (
	StateRunning   = client.StateRunning
	StateDraining  = client.StateDraining
	StateDone      = client.StateDone
	StateCancelled = client.StateCancelled
	StateFailed    = client.StateFailed
)
