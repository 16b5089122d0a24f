package bundle

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// openFlags open a bundle file without following a final symbolic link and without
// blocking (a FIFO opened so returns at once; fstat then refuses it).
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// readRegular reads the bundle file name (slash path relative to the root) if it is a
// regular file of at most limit bytes. The file is lstat'ed first (a link is refused,
// not followed, even one that stays inside the bundle), opened with openFlags and
// fstat'ed on the descriptor, and the limit is enforced while reading: a device, a FIFO
// or a file that grows is refused without reading past the limit. Messages name the
// file relative to the bundle directory only and say nothing about what a link points to.
func readRegular(root *os.Root, model, name string, limit int64) ([]byte, error) {
	st, err := root.Lstat(name)
	if err != nil {
		return nil, openError(model, name, err)
	}
	if err := regular(model, name, st.Mode()); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(name, openFlags, 0)
	if err != nil {
		return nil, openError(model, name, err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, openError(model, name, err)
	}
	if err := regular(model, name, st.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, openError(model, name, err)
	}
	if int64(len(data)) > limit {
		return nil, bad(model, "%s is larger than %d bytes, the limit for a bundle file", name, limit)
	}
	return data, nil
}

// regular refuses every file type but a regular file, naming the type.
func regular(model, name string, mode fs.FileMode) error {
	what := ""
	switch t := mode.Type(); {
	case t == 0:
		return nil
	case t&fs.ModeSymlink != 0:
		what = "a symbolic link"
	case t&fs.ModeDir != 0:
		what = "a directory"
	case t&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	case t&fs.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return bad(model, "%s is %s; bundle files must be regular files", name, what)
}

// openError describes a failed open or read by the cause alone: the path the OS error
// carries could be absolute.
func openError(model, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		e := engine.Errorf(engine.CodeBadBundle, "load bundle", model, "%s is missing (listed in %s)", name, ManifestFile)
		e.Err = fs.ErrNotExist // callers that expect a file to be optional test for it
		return e
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return bad(model, "%s cannot be read: %v", name, err)
}

// walk lists the regular files of the bundle tree (slash paths, sorted per directory)
// and refuses any other entry type and more than limit entries. Each directory is read
// at most limit+1 entries at a time, so a huge directory costs no more than that.
func walk(root *os.Root, limit int) ([]string, error) {
	var files []string
	entries, dirs := 0, []string{"."}
	for len(dirs) > 0 {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		list, err := readDir(root, dir, limit-entries+1)
		if err != nil {
			return nil, bad("", "directory %s cannot be read: %v", dir, err)
		}
		if entries += len(list); entries > limit {
			return nil, bad("", "the bundle has more than %d entries (files and directories)", limit)
		}
		for _, d := range list {
			name := path.Join(dir, d.Name())
			switch {
			case d.IsDir():
				dirs = append(dirs, name)
			case d.Type() == 0:
				files = append(files, name)
			default:
				return nil, regular("", name, d.Type())
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

func readDir(root *os.Root, dir string, n int) ([]fs.DirEntry, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	list, err := f.ReadDir(n)
	if err != nil && err != io.EOF {
		return nil, unwrapPath(err)
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
