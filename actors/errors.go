package actors

import "errors"

var (
	// ErrUnknownScheduler is returned by NewScheduler for a name it does not know.
	ErrUnknownScheduler = errors.New("actors: unknown scheduler")
	// ErrBadConfig is wrapped by configuration errors.
	ErrBadConfig = errors.New("actors: invalid config")
	// ErrStopTimeout is returned by Stop when its context ends before the
	// workers did.
	ErrStopTimeout = errors.New("actors: stop: workers still running")
	// ErrAbandoned is returned by Stop when user messages were still queued.
	ErrAbandoned = errors.New("actors: stop: work abandoned")
)
