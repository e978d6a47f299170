// Package client is the Go client of a cameo node's HTTP API and the API's
// JSON types: submit a spec, list, get and cancel queries, read tenants,
// the cluster and the Prometheus text. It is a leaf: it imports nothing of
// the runtime, protoactor, gRPC or Prometheus, so a service that only
// talks to a node pulls in none of them (CI checks it with go list -deps).
//
//	c, err := client.NewClient("127.0.0.1:7700", os.Getenv("CAMEO_TOKEN"))
//	sub, err := c.Submit(ctx, specYAML)      // an invalid spec: *APIError with its problems
//	d, err := c.Get(ctx, sub.ID)             // state, spec and full statistics
//	fmt.Println(d.Stats.P99Ms, d.Stats.MetRatio, d.Stats.EventsRead)
package client
