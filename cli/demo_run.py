"""How ``kaboodle demo`` runs on a terminal: :func:`run` starts a :class:`DemoMesh`, reads
single keys in cbreak mode for its :class:`Controls`, and shows its snapshots as a live
full-screen grid (cli/demo_screen.py), or as plain lines when stdout is not a terminal; the
nodes' log records go to the footer meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live

from .demo_mesh import Controls, DemoMesh, NodeView
from .demo_screen import plain_line, screen

__all__ = ["run"]

_REFRESH = 0.1  # seconds between looks at the nodes; the screen is redrawn only on a change


class _LogToFooter(logging.Handler):
    """The nodes' log records as the footer's message: a line on stderr would tear the grid."""

    def __init__(self, controls: Controls, wake: asyncio.Event) -> None:
        super().__init__(logging.INFO)
        self.controls = controls
        self.wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        """Show ``record`` in the footer, unless the demo expects it."""
        args = record.args
        # Loopback carries no multicast here, and the nodes join by seeds instead: the
        # warning that the group is unreachable is the expected case, not news.
        if isinstance(args, tuple) and args and str(args[-1]).startswith("group-send-error"):
            return
        self.controls.message = f"{record.levelname.lower()}: {record.getMessage()}"
        self.wake.set()


@contextlib.contextmanager
def _logs_to(handler: logging.Handler) -> Iterator[None]:
    """The ``kaboodle`` loggers' records to ``handler`` alone, for as long as the demo runs."""
    logger = logging.getLogger("kaboodle")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Single keypresses from the terminal ``fd``, without echo; restored however we leave.
    Ctrl-C still raises SIGINT (cbreak keeps the signal keys)."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(fd: int, keys: asyncio.Queue[str]) -> Callable[[], None]:
    """Start queueing the keys typed on ``fd``; returns what stops it."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data:  # the terminal went away: no more keys, but the view goes on
            loop.remove_reader(fd)
            return
        for key in data.decode("utf-8", "ignore"):
            keys.put_nowait(key)

    def stop() -> None:
        loop.remove_reader(fd)

    loop.add_reader(fd, readable)
    return stop


async def run(count: int, for_seconds: float | None, console: Console, keys_fd: int | None) -> None:
    """Run the demo until ``q``, SIGINT, SIGTERM or ``for_seconds``; every node then leaves.

    Args:
        count: how many nodes.
        for_seconds: end after this many seconds (None: run until asked to stop).
        console: where to draw: a live grid on a terminal, plain lines elsewhere.
        keys_fd: a terminal to read keys from, or None for no keys.

    Raises:
        KaboodleError: the nodes cannot start (no loopback interface, no socket).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wake = asyncio.Event()

    def finish() -> None:
        stop.set()
        wake.set()

    # Installed first: a signal while the nodes start still ends the demo cleanly.
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, finish)
    if for_seconds is not None:
        loop.call_later(for_seconds, finish)
    mesh = DemoMesh(count)
    controls = Controls(mesh)
    try:
        # Undone in reverse: keys off and the terminal restored first, the grid gone, then
        # the nodes leave (their last words still logged to us), then the loggers restored.
        async with contextlib.AsyncExitStack() as stack:
            stack.enter_context(_logs_to(_LogToFooter(controls, wake)))
            stack.push_async_callback(mesh.stop)
            await mesh.start()
            if console.is_terminal:
                live = stack.enter_context(
                    Live(console=console, screen=True, auto_refresh=False, transient=True)
                )

                def show(views: list[NodeView]) -> None:
                    drawn = screen(
                        views, controls.selected, controls.message, keys=keys_fd is not None
                    )
                    live.update(drawn, refresh=True)
            else:
                console.print(f"kaboodle demo: {count} nodes on {mesh.interface}, port {mesh.port}")
                printed: dict[int, tuple[object, ...]] = {}
                told = [""]

                def show(views: list[NodeView]) -> None:
                    if controls.message != told[0]:
                        told[0] = controls.message
                        console.print(f"{time.strftime('%H:%M:%S')}  {told[0]}", highlight=False)
                    for view in views:
                        seen = (view.state, view.address, view.fingerprint, view.counted)
                        if printed.get(view.number) != seen:
                            printed[view.number] = seen
                            console.print(plain_line(view), highlight=False)

            worker: asyncio.Task[None] | None = None
            if keys_fd is not None:
                keys: asyncio.Queue[str] = asyncio.Queue()
                stack.enter_context(_cbreak(keys_fd))
                stack.callback(_read_keys(keys_fd, keys))
                worker = asyncio.create_task(_act(keys, controls, finish, wake))
            try:
                await _draw_until(stop, wake, mesh, controls, show, size=lambda: console.size)
            finally:
                if worker is not None:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _act(
    keys: asyncio.Queue[str],
    controls: Controls,
    finish: Callable[[], None],
    wake: asyncio.Event,
) -> None:
    """Act on the keys one at a time, in the order typed (a kill finishes before the next)."""
    try:
        while True:
            key = await keys.get()
            if await controls.press(key):
                return
            wake.set()
    finally:
        finish()  # on quit, and on a failure too: a demo deaf to its keys would hang on


async def _draw_until(
    stop: asyncio.Event,
    wake: asyncio.Event,
    mesh: DemoMesh,
    controls: Controls,
    show: Callable[[list[NodeView]], None],
    *,
    size: Callable[[], object],
) -> None:
    """Redraw whenever the nodes' views, the selection, the message or the terminal's
    ``size`` change, until ``stop``."""
    shown: tuple[object, ...] | None = None
    while not stop.is_set():
        views = mesh.views()
        now = (views, controls.selected, controls.message, size())
        if now != shown:
            show(views)
            shown = now
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REFRESH):
                await wake.wait()
