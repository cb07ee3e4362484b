"""The control socket's server: :class:`ControlServer` answers for one node on a Unix socket.

Only one node serves a socket path: the server holds an ``flock`` on ``<socket>.lock`` for as
long as it runs. The kernel drops that lock when a process dies, however it dies, so a socket
file whose lock is free is stale (its node crashed) and is replaced, while one whose lock is
held is never stolen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kaboodle.protocol.events import Event
from kaboodle.runtime.errors import KaboodleError

from .errors import ControlPermissionError, NodeAlreadyRunningError, owner_text
from .lines import json_line
from .views import (
    ObservedNode,
    event_json,
    fingerprint_text,
    keys_json,
    status_json,
    view_json,
)

__all__ = ["ControlServer"]

_REQUEST_LIMIT = 64 * 1024  # a request is a few dozen bytes; anything near this is not one
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, NUL included
_WATCH_QUIET = 0.05  # seconds without events before a watcher gets the coalesced view
_CLOSE_GRACE = 1.0  # seconds that answers in flight get to go out when the server closes

log = logging.getLogger("kaboodle.control")


class ControlServer:
    """Serves one node's control socket.

    ``claim()`` takes the socket path (lock, stale check, bind, listen) before the node starts,
    so a second ``join`` on the same port fails before it announces anything; ``start()``
    begins answering; ``close()`` answers pending ``leave`` requests, then removes the socket.
    A :class:`~kaboodle.Kaboodle` makes its own with ``control_server(path, on_leave=...)``.

    Args:
        kb: the node to report on.
        path: the socket path.
        on_leave: called when a client asks the node to leave; the owner then stops the node
            and calls ``close()``, and only then does that client get its answer.
        profile: the timing profile's name, shown in the ``info`` answer when given.
    """

    def __init__(
        self,
        kb: ObservedNode,
        path: Path,
        on_leave: Callable[[], None],
        profile: str | None = None,
    ) -> None:
        self._kb = kb
        self._profile = profile
        self.path = path
        self._on_leave = on_leave
        self._lock_fd: int | None = None
        self._sock: socket.socket | None = None
        self._inode: int | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._leaving = False
        self.replaced_stale = False
        """True when claim() replaced a socket left behind by a node that died."""

    def claim(self) -> None:
        """Take the socket path for this node and listen on it.

        Raises:
            NodeAlreadyRunningError: a live node serves this path.
            ControlPermissionError: the directory or the socket cannot be used.
            KaboodleError: the path is too long for a Unix socket, or is not a socket, or its
                directory lets every user replace it.
        """
        path = self.path
        _check_directory(path.parent)
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        for candidate in (path, staging):
            if len(os.fsencode(candidate)) > _SUN_PATH_MAX:
                raise KaboodleError(
                    f"the control socket path {candidate} is longer than the {_SUN_PATH_MAX} "
                    "bytes a Unix socket allows; set KABOODLE_RUNTIME_DIR to a shorter directory"
                )
        self._lock_fd = self._take_lock(path)
        try:
            self._check_stale(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                with contextlib.suppress(FileNotFoundError):
                    staging.unlink()
                sock.bind(os.fspath(staging))
                # 0600 before the socket appears under its name (rename is atomic), so there
                # is no moment when others could connect; the rename also replaces a stale one.
                os.chmod(staging, 0o600)
                os.replace(staging, path)
                self._inode = path.lstat().st_ino
                sock.listen(64)  # clients that come before start() wait in the backlog
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                with contextlib.suppress(OSError):
                    staging.unlink()
                raise _socket_error(path, exc) from exc
            self._sock = sock
        except BaseException:
            self._release_lock()
            raise

    async def start(self) -> None:
        """Begin answering requests (after ``claim()``)."""
        if self._sock is None:
            raise RuntimeError("claim() the control socket before start()")
        self._server = await asyncio.start_unix_server(
            self._serve, sock=self._sock, limit=_REQUEST_LIMIT
        )

    def leaving(self) -> None:
        """The node is about to leave: answer no more requests, send watchers nothing more
        until "stopped" (the node's own view empties as it goes; that is no news of the mesh)."""
        self._leaving = True

    async def close(self) -> None:
        """Stop serving: answer pending ``leave`` requests, end watches, remove the socket.

        Idempotent. Call it after the node has stopped, so ``leave`` is answered once the
        node has left.
        """
        self._closing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        elif self._sock is not None:
            self._sock.close()
        self._sock = None
        if self._clients:
            # Leave requests answer, watches say "stopped"; idle connections are cut.
            await asyncio.wait(set(self._clients), timeout=_CLOSE_GRACE)
            for task in set(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
        if self._inode is not None:
            # Only our own socket: never unlink one that has replaced it in the meantime.
            with contextlib.suppress(OSError):
                if self.path.lstat().st_ino == self._inode:
                    self.path.unlink()
            self._inode = None
        self._release_lock()

    # -- claiming

    def _take_lock(self, path: Path) -> int:
        lock_path = _lock_path(path)
        while True:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise _socket_error(lock_path, exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                raise NodeAlreadyRunningError(self._already_running(path, holder)) from None
            except OSError as exc:
                os.close(fd)
                raise _socket_error(lock_path, exc) from exc
            # A node that stopped removes its lock file while holding it; if we locked such a
            # removed file, the lock means nothing: take the one now at the path instead.
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == lock_path.stat().st_ino:
                    break
            os.close(fd)
        # The pid is only for the message a second join prints; the lock itself is the truth.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _check_stale(self, path: Path) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _socket_error(path, exc) from exc
        if not stat.S_ISSOCK(info.st_mode):
            raise KaboodleError(
                f"{path} exists and is not a socket; remove it or choose another --socket"
            )
        # We hold the lock, so no kaboodle node serves it; still, never take a socket that
        # something answers on.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(os.fspath(path))
            except OSError:
                self.replaced_stale = True
                log.warning("replacing the stale control socket %s (its node is gone)", path)
                return
        raise NodeAlreadyRunningError(self._already_running(path, ""))

    def _already_running(self, path: Path, pid: str) -> str:
        holder = f"pid {pid}, " if pid.isdigit() else ""
        return (
            f"a kaboodle node is already running on port {self._kb.port} ({holder}control "
            f"socket {path}); to run another one on this port, give it its own with --socket PATH"
        )

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            # Removed while still held, so that nobody can take a lock on it in between (and
            # _take_lock checks it locked the file that is at the path).
            with contextlib.suppress(OSError):
                _lock_path(self.path).unlink()
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -- answering

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to tell it
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                await _send(writer, _error(f"request longer than {_REQUEST_LIMIT} bytes"))
                return
            if not line:
                return
            try:
                req = json.loads(line)
            except ValueError:
                await _send(writer, _error("request is not JSON"))
                continue
            if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
                await _send(writer, _error('request is not an object with a "cmd" string'))
                continue
            cmd: str = req["cmd"]
            if self._leaving or self._closing.is_set() or not self._kb.running:
                await _send(writer, _error("the node is leaving"))
                return
            if cmd == "leave":
                me = str(self._kb.self_addr)  # the node has no address once it has left
                self._on_leave()
                await self._closing.wait()
                await _send(writer, {"ok": True, "self": me, "port": self._kb.port})
                return
            if cmd == "watch":
                await self._watch(writer, req.get("interval", 1.0))
                return
            await _send(writer, self._answer(cmd, req))

    def _answer(self, cmd: str, req: dict[str, Any]) -> dict[str, Any]:
        kb = self._kb
        if cmd in _KEY_COMMANDS:
            return self._keys(cmd, req)
        if cmd == "info":
            return {"ok": True, **status_json(kb, self._profile)}
        if cmd == "peers":
            return {"ok": True, **view_json(kb)}
        if cmd == "fingerprint":
            return {
                "ok": True,
                "fingerprint": fingerprint_text(kb.fingerprint()),
                "members": len(kb.peers()),
            }
        if cmd == "tags":
            return self._tags(req)
        return _error(f"unknown command {cmd!r} (known: {', '.join(_COMMANDS)})")

    def _keys(self, cmd: str, req: dict[str, Any]) -> dict[str, Any]:
        """The keyring commands: a key travels as base64 in ``key``; answers show only ids."""
        kb = self._kb
        try:
            if cmd in _KEY_ACTIONS:
                key = req.get("key")
                if not isinstance(key, str):
                    return _error('"key" must be a base64 string')
                _KEY_ACTIONS[cmd](kb, key)
            elif cmd == "key-verify":
                switches = {s: req.get(s) for s in ("incoming", "outgoing")}
                if any(v is not None and not isinstance(v, bool) for v in switches.values()):
                    return _error('"incoming" and "outgoing" must be true or false')
                for switch, value in switches.items():
                    if value is not None:
                        setattr(kb, f"verify_{switch}", value)
        except ValueError as exc:
            return _error(str(exc))
        return {"ok": True, **keys_json(kb)}

    def _tags(self, req: dict[str, Any]) -> dict[str, Any]:
        """The node's tags, after the change if the request asks for one: ``set`` (an object
        of strings) adds or replaces tags, ``delete`` (a list of keys) removes them."""
        kb = self._kb
        changes, deletions = req.get("set", {}), req.get("delete", [])
        if not isinstance(changes, dict):
            return _error('"set" must be an object of KEY: VALUE strings')
        if not isinstance(deletions, list) or not all(isinstance(k, str) for k in deletions):
            return _error('"delete" must be a list of keys')
        # Which of the two would win is no rule anyone should have to remember.
        both = sorted(changes.keys() & set(deletions))
        if both:
            return _error(f"tag {both[0]!r} is both set and deleted")
        if changes or deletions:
            kept = {k: v for k, v in kb.tags.items() if k not in deletions}
            try:
                kb.set_tags(kept | changes)
            except ValueError as exc:
                return _error(str(exc))
        return {"ok": True, "tags": dict(kb.tags)}

    async def _watch(self, writer: asyncio.StreamWriter, interval: object) -> None:
        if not isinstance(interval, int | float) or isinstance(interval, bool):
            await _send(writer, _error('"interval" must be a number of seconds'))
            return
        period = min(max(float(interval), 0.1), 60.0)
        subscription = self._kb.events()
        events = aiter(subscription)
        try:
            await _send(writer, {"ok": True})
            await _send(writer, {"type": "view", **view_json(self._kb)})
            pending: asyncio.Task[Event] | None = None
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(events))
                # Events arrive in bursts; answer each, then one view once the burst is over
                # (or at least every period, for the latencies that change without events).
                changed = False
                deadline = asyncio.get_running_loop().time() + period
                while True:
                    now = asyncio.get_running_loop().time()
                    wait = min(_WATCH_QUIET, deadline - now) if changed else deadline - now
                    done, _ = await asyncio.wait({pending}, timeout=max(wait, 0))
                    if not done:
                        break
                    try:
                        event = pending.result()
                    except StopAsyncIteration:  # the node stopped
                        await _send(writer, {"type": "stopped"})
                        return
                    pending = asyncio.ensure_future(anext(events))
                    line = event_json(event)
                    if line is not None and not self._leaving:
                        changed = True
                        await _send(writer, {"type": "event", **line})
                if self._leaving or not self._kb.running:
                    continue  # stopping: the subscription ends in a moment
                await _send(writer, {"type": "view", **view_json(self._kb)})
        finally:
            subscription.close()
            if pending is not None and not pending.done():
                pending.cancel()


_KEY_ACTIONS: dict[str, Callable[[ObservedNode, str], None]] = {
    "key-install": lambda kb, key: kb.install_key(key),
    "key-use": lambda kb, key: kb.use_key(key),
    "key-remove": lambda kb, key: kb.remove_key(key),
}
_KEY_COMMANDS = ("keys", *_KEY_ACTIONS, "key-verify")
_COMMANDS = ("info", "peers", "fingerprint", "tags", "watch", "leave", *_KEY_COMMANDS)


def _check_directory(directory: Path) -> None:
    """Refuse a directory that every user may write in without the sticky bit: anyone could
    remove our socket and put their own in its place, and the next client would talk to it."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return  # binding says what is wrong with it
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise KaboodleError(
            f"the control socket's directory {directory} is writable by every user and has no "
            "sticky bit, so anyone could replace the socket; use another --socket or "
            f"KABOODLE_RUNTIME_DIR (or chmod +t {directory})"
        )


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


async def _send(writer: asyncio.StreamWriter, obj: Mapping[str, Any]) -> None:
    writer.write(json_line(obj))
    await writer.drain()


def _socket_error(path: Path, exc: OSError) -> KaboodleError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ControlPermissionError(
            f"permission denied on the control socket {path} (its directory "
            f"{owner_text(path.parent)}); run as its owner or set KABOODLE_RUNTIME_DIR"
        )
    return KaboodleError(f"cannot serve the control socket {path}: {exc.strerror or exc}")
