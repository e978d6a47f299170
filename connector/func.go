package connector

import (
	"fmt"

	"github.com/cameo-go/cameo/query"
)

// The func kinds: a Go embedder's own source (query.SourceFunc) and sink
// (query.SinkFunc), from the Builder.

func init() {
	registerInput("func", openSourceFunc)
	registerOutput("func", func(spec query.OutputSpec, _ *Env) (Output, error) {
		return sinkFunc(spec.(query.SinkFunc)), nil
	})
}

// funcInput runs the user's function in a goroutine the query owns; emit
// hands each event over a channel of one batch, so the function waits
// while the query is backlogged.
type funcInput struct {
	fn      query.SourceFunc
	env     *Env
	started bool
	events  chan query.Event
	err     chan error
	closed  bool
	final   error // the function's error, once it returned
	ready   chan struct{}
}

func openSourceFunc(spec query.InputSpec, env *Env) (Input, error) {
	in := &funcInput{fn: spec.(query.SourceFunc), env: env, events: make(chan query.Event, env.MaxBatch), err: make(chan error, 1), ready: make(chan struct{}, 1)}
	return in, nil
}

// start runs the function, at the first Read: a query that fails to build
// never calls it.
func (in *funcInput) start() {
	in.started = true
	env, ctx := in.env, in.env.Context
	env.Go(func() {
		defer func() {
			if r := recover(); r != nil {
				env.Recovered("source "+env.Source+" (user function)", r)
				in.err <- fmt.Errorf("panic: %v", r)
			}
			close(in.events)
			notify(in.ready)
		}()
		in.err <- in.fn(ctx, func(ev query.Event) error {
			select {
			case in.events <- ev:
				notify(in.ready)
				return nil
			case <-ctx.Done():
				return fmt.Errorf("query %s is stopping: %w", env.Query, ctx.Err())
			}
		})
	})
}

func (in *funcInput) Ready() <-chan struct{} { return in.ready }
func (in *funcInput) Close() error           { return nil }

func (in *funcInput) Read(now int64, max int, events []query.Event) ([]query.Event, bool, error) {
	if !in.started {
		in.start()
	}
	for !in.closed && len(events) < max {
		select {
		case ev, ok := <-in.events:
			if ok {
				events = append(events, ev)
			} else {
				in.closed = true
				in.final = <-in.err
				if in.env.Context.Err() != nil {
					in.final = nil // the query stopped it: its error is the stop
				}
			}
			continue
		default:
		}
		break
	}
	return events, in.closed, in.final
}

// sinkFunc is the user's sink function as an Output.
type sinkFunc query.SinkFunc

func (f sinkFunc) Write(results []query.Event) error { return f(results) }
func (f sinkFunc) Close() error                      { return nil }
