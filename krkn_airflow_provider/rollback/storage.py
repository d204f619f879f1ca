"""Where version files live: a local (or NFS) folder, or any fsspec file system.

Two small backends with one interface. The local one is durable in the POSIX sense
(temp file, fsync, rename, directory fsync; 0600 files in 0700 folders). The fsspec one
writes each file as one immutable object; object stores have no atomic rename, so the
``.executed`` marker is written before the pending object is removed, and a record is
pending only while no marker exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from krkn_airflow_provider.errors import StorageError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

T = TypeVar("T")


class Backend(Protocol):
    """The file operations the journal needs, on names inside one root."""

    root: str

    def display(self, *parts: str) -> str: ...

    def ensure_root(self) -> None: ...

    def list_contexts(self) -> list[str]: ...

    def list_files(self, context: str) -> list[str]: ...

    def make_context(self, context: str) -> None: ...

    def write_durable(self, context: str, name: str, data: bytes, *, sync: bool = True) -> None: ...

    def sync_folder(self, context: str) -> None: ...

    def create_exclusive(self, context: str, name: str, data: bytes) -> bool: ...

    def read(self, context: str, name: str) -> bytes: ...

    def exists(self, context: str, name: str) -> bool: ...

    def mark_executed(self, context: str, pending: str, executed: str) -> None: ...

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

    def display(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def ensure_root(self) -> None:
        def make() -> None:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), self.root)

        _guard("create the rollback folder", self.root, make)

    def list_contexts(self) -> list[str]:
        try:
            with os.scandir(self.root) as entries:
                return [entry.name for entry in entries if entry.is_dir()]
        except FileNotFoundError:
            return []

    def list_files(self, context: str) -> list[str]:
        try:
            return os.listdir(os.path.join(self.root, context))
        except FileNotFoundError:
            return []

    def make_context(self, context: str) -> None:
        path = self.display(context)

        def make() -> None:
            try:
                os.mkdir(path, mode=0o700)
            except FileExistsError:
                return
            _fsync_dir(self.root)

        _guard("create the run folder", path, make)

    def write_durable(self, context: str, name: str, data: bytes, *, sync: bool = True) -> None:
        """Write ``name`` under its final name, never half: a temp file, fsync, rename.

        With ``sync=False`` the folder is not synced: the name survives a crash only once
        :meth:`sync_folder` returned (one folder sync for a burst of records).
        """
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
            if sync:
                _fsync_dir(folder)  # the rename itself survives a crash

        try:
            _guard("write the rollback record", final, write)
        except StorageError:
            _unlink_quietly(temp)
            raise

    def sync_folder(self, context: str) -> None:
        folder = self.display(context)
        _guard("sync the run folder", folder, lambda: _fsync_dir(folder))

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

    def read(self, context: str, name: str) -> bytes:
        path = self.display(context, name)
        with open(path, "rb") as handle:
            return handle.read()

    def exists(self, context: str, name: str) -> bool:
        return os.path.exists(self.display(context, name))

    def mark_executed(self, context: str, pending: str, executed: str) -> None:
        # Not fsynced: a mark lost in a crash only makes an idempotent undo run again.
        _guard(
            "mark executed",
            self.display(context, pending),
            lambda: os.rename(self.display(context, pending), self.display(context, executed)),
        )

    def remove(self, context: str, name: str) -> None:
        _unlink_quietly(self.display(context, name))

    def remove_context(self, context: str) -> None:
        folder = self.display(context)
        for name in self.list_files(context):
            _unlink_quietly(os.path.join(folder, name))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(folder)

    def mtime(self, context: str, name: str) -> float | None:
        try:
            return os.stat(self.display(context, name)).st_mtime
        except FileNotFoundError:
            return None


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

    def _names(self, path: str) -> list[str]:
        self.fs.invalidate_cache(path)
        try:
            listing: Iterable[Any] = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [posixpath.basename(str(item).rstrip("/")) for item in listing]

    def ensure_root(self) -> None:
        # Object stores have no folders; prove the location is writable instead.
        probe = self._path(f".krkn-write-check-{secrets.token_hex(4)}")

        def check() -> None:
            with self.fs.open(probe, "wb") as handle:
                handle.write(b"ok")
            self.fs.rm(probe)

        _guard("write to the rollback location", self.display(), check)

    def list_contexts(self) -> list[str]:
        return self._names(self.root)

    def list_files(self, context: str) -> list[str]:
        return self._names(self._path(context))

    def make_context(self, context: str) -> None:
        pass  # prefixes appear with their first object

    def write_durable(self, context: str, name: str, data: bytes, *, sync: bool = True) -> None:
        path = self._path(context, name)

        def write() -> None:
            with self.fs.open(path, "wb") as handle:
                handle.write(data)

        _guard("write the rollback record", self.display(context, name), write)

    def sync_folder(self, context: str) -> None:
        pass  # an object store's put is durable under its final name when it returns

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

    def read(self, context: str, name: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(context, name))
        return data

    def exists(self, context: str, name: str) -> bool:
        path = self._path(context, name)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def mark_executed(self, context: str, pending: str, executed: str) -> None:
        def mark() -> None:
            self.fs.copy(self._path(context, pending), self._path(context, executed))
            self.fs.rm(self._path(context, pending))

        _guard("mark executed", self.display(context, pending), mark)

    def remove(self, context: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(context, name))

    def remove_context(self, context: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(context), recursive=True)

    def mtime(self, context: str, name: str) -> float | None:
        try:
            info = self.fs.info(self._path(context, name))
        except FileNotFoundError:
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
