package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Files a query reads (jsonl paths) and writes (file sinks, late sinks).
//
// An engine with Config.FileRoot confines them to that directory: every
// path is taken relative to it and opened through an os.Root, so neither
// "..", an absolute path nor a symbolic link leads out of it; and only
// regular files are read or written: a device (/dev/zero, /dev/random) or
// a FIFO, which could keep a reader busy or blocked forever, is refused.
// A node sets FileRoot from --allow-files DIR. Without FileRoot (the
// embedded `cameo run`, whose specs are the user's own) paths are relative
// to the spec's file and not confined.

// ErrFileRefused wraps every refusal of a path by the file rules above.
var ErrFileRefused = errors.New("file refused")

// files opens a query's files.
type files struct {
	root *os.Root // nil: not confined
	dir  string   // FileRoot, for messages
}

func openFiles(dir string) (*files, error) {
	if dir == "" {
		return &files{}, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("file root: %w", err)
	}
	return &files{root: r, dir: dir}, nil
}

func (f *files) close() error {
	if f.root == nil {
		return nil
	}
	return f.root.Close()
}

// check refuses a path a confined engine cannot open: absolute, or not
// local (it climbs out with ".."). Symbolic links are the os.Root's to
// refuse when opening.
func (f *files) check(path string) error {
	if f.root == nil {
		return nil
	}
	if filepath.IsAbs(path) || !filepath.IsLocal(path) {
		return fmt.Errorf("%w: %q: paths are relative to the node's file directory %s and stay inside it", ErrFileRefused, path, f.dir)
	}
	return nil
}

// open opens path for reading; resolved is path as the query resolved it
// (relative to its spec file when not confined).
func (f *files) open(path, resolved string) (*os.File, error) {
	if err := f.check(path); err != nil {
		return nil, err
	}
	var fh *os.File
	var err error
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	// below like any file that is not regular.
	if f.root != nil {
		if err := f.regular(path); err != nil {
			return nil, err
		}
		fh, err = f.root.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		fh, err = os.Open(resolved)
	}
	if err != nil {
		return nil, f.wrap(path, err)
	}
	if f.root != nil {
		if err := isRegular(fh, path); err != nil {
			fh.Close()
			return nil, err
		}
	}
	return fh, nil
}

// create creates or truncates path for writing.
func (f *files) create(path, resolved string) (*os.File, error) {
	if err := f.check(path); err != nil {
		return nil, err
	}
	if f.root == nil {
		return os.Create(resolved)
	}
	if err := f.regular(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fh, err := f.root.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, f.wrap(path, err)
	}
	if err := isRegular(fh, path); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// regular refuses an existing path that is not a regular file.
func (f *files) regular(path string) error {
	st, err := f.root.Stat(path)
	if err != nil {
		return f.wrap(path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is a %s, not a regular file", ErrFileRefused, path, kindOf(st.Mode()))
	}
	return nil
}

func isRegular(fh *os.File, path string) error {
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is a %s, not a regular file", ErrFileRefused, path, kindOf(st.Mode()))
	}
	return nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// wrap turns an os.Root escape into ErrFileRefused, naming the path only
// (never the target of a link).
func (f *files) wrap(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return fmt.Errorf("%w: %q leads out of the node's file directory %s", ErrFileRefused, path, f.dir)
	}
	return err
}
