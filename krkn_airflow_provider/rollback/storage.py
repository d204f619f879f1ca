"""Where version files live: a local (or NFS) folder, or any fsspec file system.

Two small backends with one interface. The local one is durable in the POSIX sense
(temp file, fsync, rename, directory fsync; 0600 files in 0700 folders). The fsspec one
writes each file as one immutable object; object stores have no atomic rename, so the
``.executed`` marker is written before the pending object is removed, and a record is
pending only while no marker exists.

Both treat what they find as hostile: symlinks are never followed, only regular files
are read (checked before opening, so a FIFO cannot block a read), nothing over
``MAX_RECORD_BYTES`` is read, and only names the journal owns are ever removed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from krkn_airflow_provider.errors import CorruptRecord, StorageError
from krkn_airflow_provider.rollback import naming

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

T = TypeVar("T")
log = logging.getLogger(__name__)

# A version file is a few KB (a recreated manifest some tens); anything larger is refused
# from its size on stat, before a byte of it is read.
MAX_RECORD_BYTES = 1024 * 1024


def _file_type(mode: int) -> str:
    for test, label in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return label
    return "not a file"


def _not_regular(where: str, what: str) -> CorruptRecord:
    message = f"{where}: not a regular file ({what}); skipped, never followed or opened"
    log.warning("%s", message)
    return CorruptRecord(message)


def _too_large(where: str, size: int | None) -> CorruptRecord:
    got = f"{size} bytes" if size is not None else "more"
    return CorruptRecord(
        f"{where}: {got}, larger than the 1 MiB cap on a version file; refused without reading it"
    )


class Backend(Protocol):
    """The file operations the journal needs, on names inside one root."""

    root: str

    def display(self, *parts: str) -> str: ...

    def ensure_root(self) -> None: ...

    def list_contexts(self) -> list[str]: ...

    def list_files(self, context: str) -> list[str]: ...

    def make_context(self, context: str) -> None: ...

    def write_durable(self, context: str, name: str, data: bytes) -> None: ...

    def write_durable_many(self, context: str, files: list[tuple[str, bytes]]) -> None: ...

    def create_exclusive(self, context: str, name: str, data: bytes) -> bool: ...

    def link_exclusive(self, context: str, source: str, name: str, inode: int) -> bool: ...

    def inode(self, context: str, name: str) -> int | None: ...

    def read(self, context: str, name: str) -> bytes: ...

    def exists(self, context: str, name: str) -> bool: ...

    def mark_executed(self, context: str, pending: str, executed: str, data: bytes) -> None: ...

    def remove(self, context: str, name: str) -> None: ...

    def remove_context(self, context: str) -> None: ...

    def mtime(self, context: str, name: str) -> float | None: ...


def _storage_error(action: str, where: str, error: OSError) -> StorageError:
    code = errno.errorcode.get(error.errno or 0, str(error.errno)) if error.errno else ""
    reason = error.strerror or str(error)
    hint = {
        errno.ENOSPC: " (storage is full)",
        errno.EROFS: " (read-only file system)",
        errno.EACCES: " (permission denied: check the owner and mode of the folder)",
        errno.EPERM: " (operation not permitted)",
    }.get(error.errno or 0, "")
    return StorageError(f"cannot {action} {where}: [{code}] {reason}{hint}".replace("[] ", ""))


def _guard(action: str, where: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except OSError as error:
        raise _storage_error(action, where, error) from error


class LocalBackend:
    """A local or NFS folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = str(Path(root).expanduser())
        self._prefix = self.root if self.root.endswith("/") else self.root + "/"

    def display(self, *parts: str) -> str:
        # Called several times per record replayed: plain joining where os.path.join
        # would give the same (no part absolute), at a fifth of its cost.
        if len(parts) == 2:  # (run folder, file name): the common case, without a generator
            folder, name = parts
            if not folder.startswith("/") and not name.startswith("/"):
                return self._prefix + folder + "/" + name
        if not parts or any(part.startswith("/") for part in parts):
            return os.path.join(self.root, *parts)
        return self._prefix + "/".join(parts)

    def ensure_root(self) -> None:
        def make() -> None:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), self.root)

        _guard("create the rollback folder", self.root, make)

    def list_contexts(self) -> list[str]:
        try:
            with os.scandir(self.root) as entries:
                # A symlinked run folder is not ours: never listed, so never read or pruned.
                return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        except OSError as error:  # ELOOP, ENOTDIR, EACCES: say so instead of "no records"
            raise _storage_error("list", self.root, error) from error

    def _open_context(self, context: str) -> int:
        """A descriptor of the run folder itself, refusing a symlink in its place."""
        return os.open(self.display(context), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def list_files(self, context: str) -> list[str]:
        try:
            fd = self._open_context(context)
        except FileNotFoundError:
            return []
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                return []  # replaced by a symlink or a file since it was listed
            raise _storage_error("list", self.display(context), error) from error
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def make_context(self, context: str) -> None:
        path = self.display(context)

        def make() -> None:
            try:
                os.mkdir(path, mode=0o700)
            except FileExistsError:
                return
            _fsync_dir(self.root)

        _guard("create the run folder", path, make)

    def write_durable(self, context: str, name: str, data: bytes) -> None:
        folder = self.display(context)
        final = os.path.join(folder, name)
        temp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{name}")

        def write() -> None:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, final)
            _fsync_dir(folder)

        try:
            _guard("write the rollback record", final, write)
        except StorageError:
            _unlink_quietly(temp)
            raise

    def write_durable_many(self, context: str, files: list[tuple[str, bytes]]) -> None:
        """:meth:`write_durable` for a burst (group commit): every temp file is written,
        then each is fsynced (the first fsync's journal commit carries the others' data, so
        the rest are cheap), then all are renamed, then one folder fsync. All or nothing:
        if any step fails, no file of the burst is left under its final name."""
        folder = self.display(context)
        temps = [(os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{name}"), name) for name, _ in files]
        renamed: list[str] = []

        def write() -> None:
            fds: list[int] = []
            try:
                for (temp, _name), (_same, data) in zip(temps, files, strict=True):
                    fds.append(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fds[-1], view) :]
                for fd in fds:
                    os.fsync(fd)
            finally:
                for fd in fds:
                    os.close(fd)
            for temp, name in temps:
                os.rename(temp, os.path.join(folder, name))
                renamed.append(name)
            _fsync_dir(folder)

        try:
            _guard("write the rollback records", folder, write)
        except StorageError:
            for temp, _name in temps:
                _unlink_quietly(temp)
            for name in renamed:  # not known durable: its change is never made
                _unlink_quietly(os.path.join(folder, name))
            raise

    def create_exclusive(self, context: str, name: str, data: bytes) -> bool:
        path = self.display(context, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as error:
            raise _storage_error("create", path, error) from error
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as error:  # a full disk: no half-written file stays behind
            _unlink_quietly(path)
            raise _storage_error("write", path, error) from error
        return True

    def link_exclusive(self, context: str, source: str, name: str, inode: int) -> bool:
        """Give file ``source`` (inode ``inode``) the new name ``name``, which must not exist.

        As exclusive as :meth:`create_exclusive`, without allocating a file: creating a file
        costs a few hundred microseconds on some disks, a link a few. ``False`` when
        ``name`` exists, or ``source`` is gone or no longer that file (nothing is left then).
        """
        folder = self.display(context)
        target = os.path.join(folder, name)
        try:
            os.link(os.path.join(folder, source), target, follow_symlinks=False)
        except (FileExistsError, FileNotFoundError):
            return False
        except OSError as error:
            raise _storage_error("create", target, error) from error
        if self.inode(context, name) != inode:  # ``source`` was replaced meanwhile
            _unlink_quietly(target)
            return False
        return True

    def inode(self, context: str, name: str) -> int | None:
        info = self._lstat(context, name)
        return info.st_ino if info is not None and stat.S_ISREG(info.st_mode) else None

    def read(self, context: str, name: str) -> bytes:
        """The bytes of a regular file, never through a symlink, at most the size cap."""
        path = self.display(context, name)
        dir_fd = self._open_context(context)
        try:
            # lstat first: opening a FIFO for reading would block until a writer comes.
            info = os.lstat(name, dir_fd=dir_fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(path, _file_type(info.st_mode))
            if info.st_size > MAX_RECORD_BYTES:
                raise _too_large(path, info.st_size)
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name, flags, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):  # swapped between lstat and open
                raise _not_regular(path, _file_type(opened.st_mode))
            chunks, size = [], 0
            # Ask for what fstat says is there (plus one, to see the end): a read sized to the
            # cap would map and unmap a fresh megabyte for every record.
            expected = opened.st_size + 1
            while chunk := os.read(fd, min(max(expected - size, 4096), MAX_RECORD_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RECORD_BYTES:
                    raise _too_large(path, None)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _lstat(self, context: str, name: str) -> os.stat_result | None:
        try:
            return os.lstat(self.display(context, name))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, context: str, name: str) -> bool:
        info = self._lstat(context, name)
        return info is not None and stat.S_ISREG(info.st_mode)

    def mark_executed(self, context: str, pending: str, executed: str, data: bytes) -> None:
        """Rename the pending file (the atomic mark), then write ``data`` over it in place.

        ``data`` has the file's length (only its state and digest changed), so no block is
        freed or allocated: unlinking or replacing a record fsynced at write time costs
        milliseconds each. Not fsynced, on purpose: the record was applied; a crash between
        the two steps leaves an executed file still sealed as pending, which only its audit
        reading refuses.
        """
        source, target = self.display(context, pending), self.display(context, executed)

        def mark() -> None:
            info = os.lstat(source)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(source, _file_type(info.st_mode))
            os.rename(source, target)
            fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if os.fstat(fd).st_size != len(data):
                    os.ftruncate(fd, len(data))
                view, offset = memoryview(data), 0
                while offset < len(data):
                    offset += os.pwrite(fd, view[offset:], offset)
            finally:
                os.close(fd)

        _guard("mark executed", source, mark)

    def remove(self, context: str, name: str) -> None:
        info = self._lstat(context, name)
        if info is not None and stat.S_ISREG(info.st_mode):
            _unlink_quietly(self.display(context, name))

    def remove_context(self, context: str) -> None:
        """Remove the journal's own files of a run folder, then the folder if that empties it."""
        try:
            dir_fd = self._open_context(context)
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                return  # a symlink (or file) in place of the run folder: not ours to touch
            raise
        try:
            for name in os.listdir(dir_fd):
                if not naming.is_owned(name):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode):
                        os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        try:
            os.rmdir(self.display(context))
        except FileNotFoundError:
            pass
        except OSError as error:
            if error.errno != errno.ENOTEMPTY:
                raise
            log.warning("%s: left in place, it holds files that are not the journal's", self.display(context))

    def mtime(self, context: str, name: str) -> float | None:
        info = self._lstat(context, name)
        return None if info is None else info.st_mtime


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class FsspecBackend:
    """Any fsspec file system (S3, GCS, ...): each file one immutable object."""

    def __init__(self, fs: AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.root = fs._strip_protocol(root).rstrip("/")

    def display(self, *parts: str) -> str:
        return f"{self.protocol}://{posixpath.join(self.root, *parts)}"

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def _names(self, path: str, *, folders: bool) -> list[str]:
        self.fs.invalidate_cache(path)
        try:
            listing: Iterable[Any] = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except OSError as error:
            raise _storage_error("list", f"{self.protocol}://{path}", error) from error
        names = []
        for item in listing:
            if item.get("islink"):
                continue  # a symlink (local or NFS through fsspec) is never followed
            if folders and item.get("type") != "directory":
                continue
            names.append(posixpath.basename(str(item["name"]).rstrip("/")))
        return names

    def ensure_root(self) -> None:
        # Object stores have no folders; prove the location is writable instead.
        probe = self._path(f".krkn-write-check-{secrets.token_hex(4)}")

        def check() -> None:
            with self.fs.open(probe, "wb") as handle:
                handle.write(b"ok")
            self.fs.rm(probe)

        _guard("write to the rollback location", self.display(), check)

    def list_contexts(self) -> list[str]:
        return self._names(self.root, folders=True)

    def list_files(self, context: str) -> list[str]:
        return self._names(self._path(context), folders=False)

    def _info(self, context: str, name: str) -> dict[str, Any] | None:
        path = self._path(context, name)
        self.fs.invalidate_cache(path)
        try:
            info: dict[str, Any] = self.fs.info(path)
        except FileNotFoundError:
            return None
        return info

    def _regular(self, info: dict[str, Any] | None) -> bool:
        return info is not None and not info.get("islink") and info.get("type") == "file"

    def make_context(self, context: str) -> None:
        pass  # prefixes appear with their first object

    def write_durable(self, context: str, name: str, data: bytes) -> None:
        path = self._path(context, name)

        def write() -> None:
            with self.fs.open(path, "wb") as handle:
                handle.write(data)

        _guard("write the rollback record", self.display(context, name), write)

    def write_durable_many(self, context: str, files: list[tuple[str, bytes]]) -> None:
        for name, data in files:
            self.write_durable(context, name, data)

    def create_exclusive(self, context: str, name: str, data: bytes) -> bool:
        path = self._path(context, name)
        try:
            with self.fs.open(path, "xb") as handle:
                handle.write(data)
        except FileExistsError:
            return False
        except OSError as error:
            raise _storage_error("create", self.display(context, name), error) from error
        return True

    def link_exclusive(self, context: str, source: str, name: str, inode: int) -> bool:
        return False  # object stores have no links: every claim is its own object

    def inode(self, context: str, name: str) -> int | None:
        return None

    def read(self, context: str, name: str) -> bytes:
        """The bytes of one object, never through a symlink, at most the size cap."""
        where = self.display(context, name)
        info = self._info(context, name)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where)
        if not self._regular(info):
            raise _not_regular(where, "a symlink" if info.get("islink") else str(info.get("type")))
        size = info.get("size")
        if isinstance(size, int) and size > MAX_RECORD_BYTES:
            raise _too_large(where, size)
        with self.fs.open(self._path(context, name), "rb") as handle:
            data: bytes = handle.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise _too_large(where, None)
        return data

    def exists(self, context: str, name: str) -> bool:
        return self._regular(self._info(context, name))

    def mark_executed(self, context: str, pending: str, executed: str, data: bytes) -> None:
        def mark() -> None:
            with self.fs.open(self._path(context, executed), "wb") as handle:
                handle.write(data)
            self.fs.rm(self._path(context, pending))

        _guard("mark executed", self.display(context, pending), mark)

    def remove(self, context: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(context, name))

    def remove_context(self, context: str) -> None:
        """Remove the journal's own objects of a run folder, then the folder if it empties."""
        for name in self.list_files(context):
            if naming.is_owned(name) and self._regular(self._info(context, name)):
                self.remove(context, name)
        if not self.list_files(context):
            with contextlib.suppress(OSError):
                self.fs.rmdir(self._path(context))

    def mtime(self, context: str, name: str) -> float | None:
        info = self._info(context, name)
        if info is None:
            return None
        value = info.get("LastModified") or info.get("mtime") or info.get("updated")
        if value is None:
            return None
        return value.timestamp() if hasattr(value, "timestamp") else float(value)


def open_backend(location: str, *, fs: AbstractFileSystem | None = None, **storage_options: Any) -> Backend:
    """A backend for ``location``: a path, a ``file://`` URL, or any fsspec URL."""
    if fs is not None:
        return FsspecBackend(fs, location)
    if "://" not in location or location.startswith("file://"):
        return LocalBackend(location.removeprefix("file://"))
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(location, **storage_options)
    return FsspecBackend(filesystem, path)
