// Package node is a cameo node: an engine (package runtime) behind an HTTP
// API that many users submit queries to, with Prometheus metrics, health
// endpoints and the bounds a server shared by tenants needs.
//
// Node puts an engine behind an HTTP API (NodeConfig: listen address,
// bearer token, pprof, file access, limits): POST /v1/queries takes a spec
// (YAML or JSON) and answers 201 with the id, 400 with every problem's line
// and field, 409 for a name its tenant already runs, 413 over the size
// limit; GET /v1/queries, GET and DELETE /v1/queries/{id} (DELETE drains),
// GET /v1/tenants, GET /v1/load (capacity and admission), GET /v1/cluster, GET /metrics (the Metrics collector, a
// SchedulerCollector with worker busy time and queue depth, a
// ClusterCollector with each peer's state, clock offset and round trips,
// Go and process metrics), /healthz and /readyz. Every error is a
// client.APIError in JSON; package client is the Go client. Specs from the
// network may not read stdin, and may not read or write files unless
// NodeConfig.FilesDir, and then only regular files inside it
// (runtime.Config.FileRoot).
//
// The server bounds what clients can hold: read-header, read, write and
// idle timeouts, the header size and the connections open at once
// (NodeConfig). The node keeps each query's spec for GET; it forgets what
// it kept of the queries its engine forgot (runtime.Config.KeepEnded).
package node
