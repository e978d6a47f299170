package priority

import "errors"

// ErrUnknownPolicy is returned by PolicyByName for a name it does not know.
var ErrUnknownPolicy = errors.New("priority: unknown policy")

// ErrBadConfig is wrapped by the validation errors of this package's configs.
var ErrBadConfig = errors.New("priority: invalid config")
