"""The operating-system calls of the log, in one object, so tests can fail any one of them."""
from __future__ import annotations

import errno
import os
import stat as stat_mode
from pathlib import Path

# O_NONBLOCK: opening a named pipe (``mkfifo x.csv``) for reading waits for a writer, and
# the whole server waited with it; opened at once, it is then refused as no regular file.
READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
# Ingest writes only into the regular file it loaded: never through a symbolic link.
WRITE = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Batches go at the end, wherever another program's appends have put it (``Disk.append``).
APPEND = WRITE | os.O_APPEND
CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class Disk:
    """Thin wrappers over ``os``; each may raise ``OSError`` as the system call does."""

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        """A file descriptor for ``path``."""
        return os.open(path, flags, mode)

    def close(self, fd: int) -> None:
        """Close ``fd``."""
        os.close(fd)

    def stat(self, path: Path) -> os.stat_result:
        """``path``'s status, through symbolic links (files are read through them)."""
        return os.stat(path)

    def lstat(self, path: Path) -> os.stat_result:
        """``path``'s own status (a symbolic link is itself)."""
        return os.lstat(path)

    def fstat(self, fd: int) -> os.stat_result:
        """The open file's status."""
        return os.fstat(fd)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes from ``offset``."""
        return os.pread(fd, size, offset)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        """Write at ``offset``; returns how many bytes were written (may be fewer)."""
        return os.pwrite(fd, data, offset)

    def append(self, fd: int, data: bytes | memoryview) -> int:
        """One ``write`` at the end of a file opened with ``APPEND``; how many bytes went
        (fewer when the disk fills up). Nothing is written when it raises."""
        return os.write(fd, data)

    def position(self, fd: int) -> int:
        """Where the next write of ``fd`` goes (after an ``append``: the end of its bytes)."""
        return os.lseek(fd, 0, os.SEEK_CUR)

    def fsync(self, fd: int) -> None:
        """Flush ``fd``'s data and size to the device."""
        os.fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        """Cut the open file to ``size`` bytes."""
        os.ftruncate(fd, size)

    def replace(self, source: Path, target: Path) -> None:
        """Rename ``source`` over ``target`` in one step."""
        os.replace(source, target)

    def unlink(self, path: Path) -> None:
        """Remove ``path``; a missing file is fine."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def read_whole(disk: Disk, path: Path) -> tuple[os.stat_result, bytes]:
    """A regular file's status and bytes (``OSError`` for a directory or anything else)."""
    fd = disk.open(path, READ)
    try:
        status = disk.fstat(fd)
        if not stat_mode.S_ISREG(status.st_mode):
            kind = errno.EISDIR if stat_mode.S_ISDIR(status.st_mode) else errno.EINVAL
            raise OSError(kind, "not a regular file" if kind == errno.EINVAL
                          else os.strerror(kind))
        return status, read_upto(disk, fd, status.st_size)
    finally:
        disk.close(fd)


def read_upto(disk: Disk, fd: int, size: int) -> bytes:
    """The first ``size`` bytes of an open file (fewer if it is shorter now)."""
    chunks = []
    offset = 0
    while offset < size:  # pread may return less than asked
        chunk = disk.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def write_all(disk: Disk, fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (short writes continue where they stopped)."""
    view = memoryview(data)
    while view:
        written = disk.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view, offset = view[written:], offset + written


def durable_write(disk: Disk, path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data`` and fsync it (never through a symlink)."""
    fd = disk.open(path, CREATE)
    try:
        write_all(disk, fd, data, 0)
        disk.fsync(fd)
    finally:
        disk.close(fd)


def fsync_dir(disk: Disk, directory: Path) -> None:
    """Make the folder's entries (new, renamed or removed files) durable."""
    fd = disk.open(directory, READ)
    try:
        disk.fsync(fd)
    finally:
        disk.close(fd)
