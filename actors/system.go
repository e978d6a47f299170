package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// NewActorSystem returns a protoactor actor system whose logger writes to
// logger (nil: discard). protoactor logs every actor start and supervision
// event at info level by default; this keeps that out of a user's output.
func NewActorSystem(logger *slog.Logger, opts ...actor.ConfigOption) *actor.ActorSystem {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = append([]actor.ConfigOption{actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger })}, opts...)
	return actor.NewActorSystemWithConfig(actor.Configure(opts...))
}
