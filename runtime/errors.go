package runtime

import (
	"context"
	"errors"
	"log/slog"
)

// Errors of the engine; wrapped with the details that matter.
var (
	// ErrBadConfig wraps every problem with an engine Config.
	ErrBadConfig = errors.New("runtime: bad engine config")
	// ErrStopped is returned by Submit once Stop was called.
	ErrStopped = errors.New("runtime: engine stopped")
	// ErrUnknownQuery names a query id the engine does not know.
	ErrUnknownQuery = errors.New("runtime: unknown query")
	// ErrDrainTimeout is returned when a query did not drain in time and
	// was aborted.
	ErrDrainTimeout = errors.New("runtime: drain timed out")
	// ErrQueryFailed wraps the reason a query failed: an operator or user
	// function panicked, a source or sink could not read or write.
	ErrQueryFailed = errors.New("runtime: query failed")
	// ErrTenantQuota is returned by Submit when the query's tenant already
	// runs as many queries as its quota allows.
	ErrTenantQuota = errors.New("runtime: tenant quota reached")
	// ErrOverloaded is returned by Submit when the node is full (see
	// Admission) and the query's tenant is not admitted best effort.
	ErrOverloaded = errors.New("runtime: node full")
)

// minLevel passes on records at or above min; the actor system logs
// through it so that protoactor's per-actor info lines stay out of the
// engine's log.
type minLevel struct {
	min slog.Level
	slog.Handler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
