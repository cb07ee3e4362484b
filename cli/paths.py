"""Where control sockets live: one directory for every node of a user (or of the system), one
socket per discovery port in it, so nodes on different ports coexist on one host.

Both sides use the same list of directories (:func:`runtime_dirs`): ``kaboodle join`` serves
in the first it can use (:func:`prepare_runtime_dir`), and the other commands look for the
port's socket in each (:func:`locate`). That is how a user's ``kaboodle peers`` finds a node
that root runs in /run/kaboodle, and says it lacks permission rather than that none runs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kaboodle.runtime.control.errors import (
    ControlPermissionError,
    NodeNotRunningError,
    owner_text,
)

__all__ = ["SYSTEM_RUNTIME_DIR", "locate", "prepare_runtime_dir", "runtime_dirs", "socket_path"]

SYSTEM_RUNTIME_DIR = Path("/run/kaboodle")
"""The system-wide socket directory, used when it is writable and no other is configured."""


def runtime_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories that may hold control sockets, in the order they are tried.

    ``$KABOODLE_RUNTIME_DIR`` alone when it is set; else ``$XDG_RUNTIME_DIR/kaboodle`` (when
    that is set), :data:`SYSTEM_RUNTIME_DIR`, and ``kaboodle-<uid>`` in the temp directory.

    Args:
        env: the environment to read instead of ``os.environ`` (for tests).
    """
    env = os.environ if env is None else env
    explicit = env.get("KABOODLE_RUNTIME_DIR")
    if explicit:
        return [Path(explicit)]
    dirs: list[Path] = []
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg:
        dirs.append(Path(xdg) / "kaboodle")
    dirs.append(SYSTEM_RUNTIME_DIR)
    dirs.append(Path(tempfile.gettempdir()) / f"kaboodle-{os.getuid()}")
    return dirs


def socket_path(directory: Path, port: int) -> Path:
    """The control socket of the node on ``port`` in ``directory``: ``<directory>/<port>.sock``."""
    return directory / f"{port}.sock"


def prepare_runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory a new node serves its socket in, created if need be.

    The first of :func:`runtime_dirs` that can be used: ``$KABOODLE_RUNTIME_DIR`` is created
    (mode 0700) and used whatever it takes; ``$XDG_RUNTIME_DIR/kaboodle`` when
    ``$XDG_RUNTIME_DIR`` exists; /run/kaboodle when it can be created or written (mode 0755: the
    sockets themselves are 0600, and others should see that a node runs); else the per-user
    temp directory, which must be this user's own and private, since anyone may create names in
    /tmp.

    Raises:
        ControlPermissionError: the directory cannot be created or is not safe to use.
    """
    env = os.environ if env is None else env
    dirs = runtime_dirs(env)
    if env.get("KABOODLE_RUNTIME_DIR"):
        return _make_dir(dirs[0], 0o700, "KABOODLE_RUNTIME_DIR")
    for directory in dirs[:-1]:
        if directory != SYSTEM_RUNTIME_DIR and not directory.parent.is_dir():
            continue  # $XDG_RUNTIME_DIR is set but missing (a stale environment)
        if directory == SYSTEM_RUNTIME_DIR and not _writable(directory):
            continue
        with contextlib.suppress(ControlPermissionError):
            mode = 0o755 if directory == SYSTEM_RUNTIME_DIR else 0o700
            made = _make_dir(directory, mode, None)
            if _writable(made):
                return made
    private = _make_dir(dirs[-1], 0o700, None)
    info = private.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ControlPermissionError(
            f"{private} is not a private directory of this user (owner uid {info.st_uid}, "
            f"mode {stat.S_IMODE(info.st_mode):o}); remove it, or set KABOODLE_RUNTIME_DIR"
        )
    return private


def locate(port: int, env: Mapping[str, str] | None = None) -> Path:
    """The control socket of the local node on ``port``.

    Raises:
        NodeNotRunningError: no directory holds a socket for that port.
        ControlPermissionError: a directory that may hold it cannot be searched.
    """
    denied: Path | None = None
    for directory in runtime_dirs(env):
        path = socket_path(directory, port)
        try:
            path.lstat()
        except PermissionError:
            denied = denied or path
        except OSError:  # missing, or a component is not a directory
            continue
        else:
            return path
    if denied is not None:
        raise ControlPermissionError(
            f"permission denied looking for the control socket {denied} (its directory "
            f"{owner_text(denied.parent)}); run this command as that user"
        )
    raise NodeNotRunningError(port, None)


def _make_dir(directory: Path, mode: int, variable: str | None) -> Path:
    try:
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as exc:
        hint = f"set {variable} to a directory you can write" if variable else "check it"
        raise ControlPermissionError(
            f"cannot create the control socket directory {directory} "
            f"({exc.strerror or exc}); {hint}"
        ) from exc
    return directory


def _writable(directory: Path) -> bool:
    if directory.exists():
        return os.access(directory, os.W_OK | os.X_OK)
    return os.access(directory.parent, os.W_OK | os.X_OK)
