"""Reading a bundle's files without leaving the bundle, following links, blocking or reading
without bound, and its JSON without NaN, duplicate keys or unbounded nesting.

Every file is opened component by component relative to the bundle directory's descriptor
(``dir_fd``) with O_NOFOLLOW, so neither a symlinked file nor a symlinked directory on the way
is followed; O_NONBLOCK makes a FIFO open at once instead of waiting for a writer; ``fstat`` on
the opened descriptor (not ``stat`` on the name, which a device or a swapped file defeats) must
say "regular file"; at most ``cap + 1`` bytes are read. Error messages name the file relative to
the bundle and never say anything about what a link points to.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DIR_FLAGS = FILE_FLAGS | os.O_DIRECTORY
REGULAR = "bundle files must be regular files"


class UnsafeFileError(Exception):
    """A bundle file cannot be read safely; the message names it relative to the bundle."""


class StrictJSONError(ValueError):
    """Bytes that are not the strict JSON a bundle holds; the message says why, not where from."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _open_error(name: str, exc: OSError, *, directory: bool) -> UnsafeFileError:
    what = "directory" if directory else "file"
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a link: the link itself, never its target
        return UnsafeFileError(f"{name} is a symbolic link; {REGULAR}")
    if exc.errno == errno.ENOENT:
        return UnsafeFileError(f"{name} is missing")
    if exc.errno == errno.ENOTDIR:
        return UnsafeFileError(f"{name}: a part of the path is not a directory")
    if exc.errno == errno.ENXIO:  # a socket (or a device without a driver) cannot be opened
        return UnsafeFileError(f"{name} is not a regular file; {REGULAR}")
    return UnsafeFileError(f"{name}: cannot open the {what} ({os.strerror(exc.errno or 0)})")


def _link_or(exc: OSError, dir_fd: int, name: str) -> OSError:
    """O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR; tell a link (the entry itself, lstat)
    from a file in the way."""
    try:
        if exc.errno == errno.ENOTDIR and stat.S_ISLNK(
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    except OSError:
        pass
    return exc


def open_directory(path: str | os.PathLike[str]) -> int:
    """The bundle directory's descriptor. The directory itself may be reached through a link
    (the operator names it); nothing inside it is."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextmanager
def _parent(dir_fd: int, parts: list[str]) -> Iterator[int]:
    """The descriptor of the directory holding the last of ``parts``, opened link-free."""
    opened: list[int] = []
    fd = dir_fd
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _open_error("/".join(parts[: i + 1]), _link_or(exc, fd, part),
                                  directory=True) from None
            opened.append(fd)
        yield fd
    finally:
        for o in opened:
            os.close(o)


def read(dir_fd: int, name: str, cap: int) -> bytes:
    """The bytes of the regular file ``name`` (slash-separated, relative) of at most ``cap``
    bytes."""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafeFileError(f"{name}: not a plain relative name inside the bundle")
    with _parent(dir_fd, parts) as parent:
        try:
            fd = os.open(parts[-1], FILE_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _open_error(name, exc, directory=False) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFileError(f"{name} is {_kind(mode)}; {REGULAR}")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(cap + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise UnsafeFileError(f"{name} is larger than the limit of {cap} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def check_tree(dir_fd: int, limit: int) -> None:
    """Every entry under the bundle directory is a regular file or a directory (links are not
    followed) and there are at most ``limit`` entries; iterative, names sorted, so the first
    offender is the same on every run."""
    stack: list[tuple[str, int]] = [("", os.dup(dir_fd))]
    count = 0
    try:
        while stack:
            prefix, fd = stack.pop()
            try:
                with os.scandir(fd) as it:
                    entries = sorted(((e.name, e.stat(follow_symlinks=False).st_mode) for e in it))
                for entry_name, mode in entries:
                    count += 1
                    rel = prefix + entry_name
                    if count > limit:
                        raise UnsafeFileError(
                            f"the bundle has more than {limit} files and directories (the limit)")
                    if stat.S_ISDIR(mode):
                        try:
                            stack.append((rel + "/", os.open(entry_name, DIR_FLAGS, dir_fd=fd)))
                        except OSError as exc:
                            raise _open_error(rel, _link_or(exc, fd, entry_name),
                                              directory=True) from None
                    elif not stat.S_ISREG(mode):
                        raise UnsafeFileError(f"{rel} is {_kind(mode)}; {REGULAR}")
            finally:
                os.close(fd)
    finally:
        for _, fd in stack:
            os.close(fd)


# A JSON string, unrolled so that a long string costs no backtracking.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def nesting(data: bytes) -> int:
    """The deepest bracket nesting outside strings, counted without recursion (the top-level
    object is depth 1). A parser never gets deeper than this, so checking it first keeps a
    100,000-deep ``[[[[`` from reaching the recursive decoder."""
    stripped = np.frombuffer(_STRING.sub(b'""', data), np.uint8)
    if not stripped.size:
        return 0
    return max(0, int(np.cumsum(_OPEN[stripped], dtype=np.int64).max()))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate key {key[:64]!r}")
        out[key] = value
    return out


def _constant(name: str) -> object:
    raise StrictJSONError(f"{name} is not JSON (numbers must be finite)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:40]} is beyond the float64 range")
    return value


def _int(text: str) -> int:
    value = int(text)
    try:
        float(value)  # the same range (and rounding) as a float64 reader such as Go's
    except OverflowError:
        raise StrictJSONError(f"number {text[:40]}... is beyond the float64 range") from None
    return value


def strict_json(data: bytes, max_depth: int) -> object:
    """UTF-8 JSON with no NaN/Infinity, no number beyond float64, no duplicate key, nesting at
    most ``max_depth``; raises StrictJSONError saying which rule broke."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 (byte {exc.start})") from None
    if nesting(data) > max_depth:
        raise StrictJSONError(f"nesting deeper than {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_constant,
                          parse_float=_float, parse_int=_int)
    except StrictJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                              f"{exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise StrictJSONError(f"not valid JSON ({str(exc)[:120]})") from None
