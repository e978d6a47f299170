package query

import "strconv"

// Kind is an operator's kind: a closed set, spelled once, here. Code
// switches on Kind values, never on their names.
type Kind uint8

// The kinds of operator, and the runtime's sink stage.
const (
	KindNone    Kind = iota // a step with no operator (refused by validation)
	KindFilter              // filter: keeps events for which an expression holds
	KindMap                 // map: replaces each event by named expressions
	KindKeyBy               // key_by: keys and partitions by an expression or a Go function
	KindWindow              // window: tumbling or sliding aggregates per key
	KindJoin                // join: a windowed equi-join with another source
	KindUnion               // union: merges other sources into the stream
	KindProcess             // a user Go function (Builder.Process)
	KindSink                // the sink stage the runtime adds after the pipeline
)

var kindNames = [...]string{KindNone: "none", KindFilter: "filter", KindMap: "map", KindKeyBy: "key_by", KindWindow: "window",
	KindJoin: "join", KindUnion: "union", KindProcess: "process", KindSink: "sink"}

// String returns the kind's name as a spec writes it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Stateless reports whether an operator of this kind keeps no state
// between events (filter, map, key_by, process).
func (k Kind) Stateless() bool {
	return k == KindFilter || k == KindMap || k == KindKeyBy || k == KindProcess
}

// Stateful reports whether an operator of this kind holds windows (window,
// join): it fires by watermark and has a window axis.
func (k Kind) Stateful() bool { return k == KindWindow || k == KindJoin }
