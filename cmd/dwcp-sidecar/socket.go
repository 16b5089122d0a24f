package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

// privateDir makes sure dir, the runtime directory of the default socket, is a directory
// (not a link) of ours that nobody else may enter (mode 0700), creating it if absent. A
// directory others can write to would let them replace the socket or hold its lock.
func privateDir(dir string) error {
	created := false
	if err := os.Mkdir(dir, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating the runtime directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("runtime directory: %w", err)
	}
	if created && fi.Mode().Perm() != 0o700 { // a umask cleared bits we asked for
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("runtime directory: %w", err)
		}
		return privateDir(dir)
	}
	uid := os.Getuid()
	switch st := fi.Sys().(*syscall.Stat_t); {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("runtime directory %s is a symbolic link; remove it, or give -unix PATH", dir)
	case !fi.IsDir():
		return fmt.Errorf("runtime directory %s is not a directory; remove it, or give -unix PATH", dir)
	case int(st.Uid) != uid:
		return fmt.Errorf("runtime directory %s is owned by uid %d, not by this process's uid %d; remove it, or give -unix PATH", dir, st.Uid, uid)
	case fi.Mode().Perm() != 0o700:
		return fmt.Errorf("runtime directory %s has mode %04o; it must be 0700 (chmod 0700 %s), or give -unix PATH", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// unixSocket is a listening socket file with its lock. The lock (<path>.lock, flock) is
// held for the process's life: a second instance on the same path fails at once, a stale
// socket is removed only by the lock's holder, and on exit the socket file is removed
// only if it still is the one this process created.
type unixSocket struct {
	*net.UnixListener
	path     string
	lock     *os.File
	dev, ino uint64
}

// listenUnix takes the lock of path, removes a stale socket file there (left by a process
// that died) and listens with the file mode mode. A live socket or any other file at path
// is an error.
func listenUnix(path string, mode fs.FileMode, log *slog.Logger) (*unixSocket, error) {
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	s := &unixSocket{path: path, lock: lock}
	if err := s.listen(mode, log); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func (s *unixSocket) listen(mode fs.FileMode, log *slog.Logger) error {
	if err := removeStale(s.path, log); err != nil {
		return err
	}
	// The umask gives the socket its mode as bind creates it: a chmod afterwards would
	// leave a moment with the wrong mode, and follow a link put in its place.
	old := syscall.Umask(int(^mode & 0o777))
	lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("listening on unix %s: %w", s.path, err)
	}
	lis.SetUnlinkOnClose(false) // Close removes the file, and only if it is still ours
	dev, ino, err := fileID(s.path)
	if err != nil {
		lis.Close()
		return fmt.Errorf("listening on unix %s: %w", s.path, err)
	}
	s.UnixListener, s.dev, s.ino = lis, dev, ino
	return nil
}

// removeStale removes a socket file at path that no process serves.
func removeStale(path string, log *slog.Logger) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%s: another process is serving on this socket", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: probing the existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing the stale socket: %w", err)
	}
	log.Warn("removed a stale socket", "unix", path)
	return nil
}

// lockFile opens (creating) the lock file at path, which must be a regular file of ours,
// and takes an exclusive flock on it without waiting.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || int(st.Uid) != os.Getuid() {
		f.Close()
		return nil, fmt.Errorf("socket lock %s is not a regular file owned by uid %d; remove it", path, os.Getuid())
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another dwcp-sidecar holds %s: it serves this socket; stop it first, or give another -unix PATH", path)
		}
		return nil, fmt.Errorf("socket lock %s: %w", path, err)
	}
	return f, nil
}

// release removes the socket file if the path still is the socket this process created
// (an instance started after someone removed it has its own there), then drops the lock.
// Call it once the listener is closed.
func (s *unixSocket) release(log *slog.Logger) {
	defer s.lock.Close()
	dev, ino, err := fileID(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		log.Warn("socket left in place", "unix", s.path, "err", err)
	case dev != s.dev || ino != s.ino:
		log.Warn("socket left in place: the file at its path is no longer the one this process created", "unix", s.path)
	default:
		if err := os.Remove(s.path); err != nil {
			log.Warn("removing the socket", "unix", s.path, "err", err)
		}
	}
}

// fileID is the device and inode of the file at path (not following a link).
func fileID(path string) (dev, ino uint64, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Dev, st.Ino, nil
}
