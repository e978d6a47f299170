package connector

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/cameo-go/cameo/query"
)

// The jsonl input: JSON objects, one per line, from a file or standard
// input. A goroutine reads lines into chunks ahead of the source; Read
// decodes them. A line that does not decode, or is longer than
// query.MaxLineBytes, is dropped and counted with its line number.

func init() { registerInput("jsonl", openJSONL) }

func openJSONL(spec query.InputSpec, env *Env) (Input, error) {
	j := spec.(*query.JSONL)
	in := &jsonlInput{env: env, lines: make(chan lineChunk, 4), ready: make(chan struct{}, 1), name: "stdin"}
	if j.Stdin {
		// A read from stdin blocks until a line or EOF comes and cannot be
		// interrupted, so this goroutine is the one the query does not wait
		// for: it ends at stdin's EOF, or when it next reads a line after
		// the query stopped.
		go readLines(env.Stdin, nil, in.name, env.MaxBatch, in.lines, in.ready, env.Context.Done())
		return in, nil
	}
	r, name, err := env.Open(j.Path)
	if err != nil {
		return nil, err
	}
	in.name = name
	env.Go(func() { readLines(r, r, name, env.MaxBatch, in.lines, in.ready, env.Context.Done()) })
	return in, nil
}

type jsonlInput struct {
	env     *Env
	name    string
	lines   chan lineChunk // nil once the reader closed it
	ready   chan struct{}
	pending []lineChunk
	dec     query.LineDecoder
}

func (in *jsonlInput) Ready() <-chan struct{} { return in.ready }
func (in *jsonlInput) Close() error           { return nil } // the reader closes the file when it stops

func (in *jsonlInput) Read(now int64, max int, events []query.Event) ([]query.Event, bool, error) {
	for len(events) < max {
		if len(in.pending) == 0 {
			if !in.receive() {
				break
			}
			continue
		}
		c := &in.pending[0]
		for len(c.lines) > 0 && len(events) < max {
			var ev query.Event
			var err error
			if size, over := c.over[c.first]; over {
				err = query.LineTooLong(size)
			} else {
				ev, err = in.dec.Decode(c.lines[0], in.env.EventTime)
			}
			if err != nil {
				in.env.Drop(c.first, fmt.Errorf("%s:%d: %w", in.name, c.first, err))
			} else {
				events = append(events, ev)
			}
			c.lines, c.first = c.lines[1:], c.first+1
		}
		if len(c.lines) == 0 {
			if c.err != nil {
				return events, true, c.err
			}
			in.pending = in.pending[1:]
		}
	}
	return events, in.lines == nil && len(in.pending) == 0, nil
}

// receive takes a chunk of lines if one is ready.
func (in *jsonlInput) receive() bool {
	if in.lines == nil {
		return false
	}
	select {
	case c, ok := <-in.lines:
		if !ok {
			in.lines = nil
			return false
		}
		in.pending = append(in.pending, c)
		return true
	default:
		return false
	}
}

type lineChunk struct {
	lines [][]byte    // a line over query.MaxLineBytes is nil, its size in over
	over  map[int]int // by line number
	first int         // line number of lines[0]
	err   error
}

// readLines reads JSON lines into chunks of up to max lines, whatever is
// available without waiting for more; it closes out at the end of input.
// It stops when stop is closed (closing a file it opened). A read from
// stdin blocks until a line or EOF comes, so its goroutine outlives the
// query when stdin stays open.
func readLines(r io.Reader, c io.Closer, name string, max int, out chan<- lineChunk, ready chan<- struct{}, stop <-chan struct{}) {
	defer func() { close(out); notify(ready) }()
	if c != nil {
		defer c.Close()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	for {
		chunk := lineChunk{first: line + 1}
		for len(chunk.lines) < max {
			b, size, err := readLine(br, stop)
			if errors.Is(err, errStopped) {
				return
			}
			if size > 0 || err == nil {
				line++
				if size > query.MaxLineBytes {
					if chunk.over == nil {
						chunk.over = map[int]int{}
					}
					chunk.over[line] = size
					b = nil
				}
				chunk.lines = append(chunk.lines, b)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					chunk.err = fmt.Errorf("%s:%d: %w", name, line+1, err)
				}
				select {
				case out <- chunk:
				case <-stop:
				}
				return // closing out wakes the source
			}
			if br.Buffered() == 0 {
				break // send what we have rather than wait for more
			}
		}
		select {
		case out <- chunk:
			notify(ready)
		case <-stop:
			return
		}
	}
}

var errStopped = errors.New("stopped")

// readLine reads one line without its newline and returns its size; a
// line longer than query.MaxLineBytes is not kept (its size says so) and
// the rest of it is skipped, counted up to a bound.
func readLine(br *bufio.Reader, stop <-chan struct{}) (line []byte, size int, err error) {
	for {
		select { // an endless line (a device, a file without newlines) stops on cancel
		case <-stop:
			return nil, size, errStopped
		default:
		}
		var part []byte
		part, err = br.ReadSlice('\n')
		if size += len(part); size <= query.MaxLineBytes+1 {
			line = append(line, part...)
		} else {
			line = nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if n := len(part); n > 0 && part[n-1] == '\n' {
			size--
			if line != nil {
				line = line[:len(line)-1]
			}
		}
		return line, size, err
	}
}

// notify wakes the reader of ready unless a wake-up is pending already.
func notify(ready chan<- struct{}) {
	select {
	case ready <- struct{}{}:
	default:
	}
}
