"""What a running command writes as it goes: event lines on stdout, log records on stderr.

Both come in two styles: for people (rich, one line each) and, with ``--json-logs``, one JSON
object per line with a ``time`` field, for log collectors and for tests.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .options import LogLevel

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["NodeOutput", "configure_logging"]


def _timestamp(when: float) -> str:
    return (
        datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class _TextFormatter(logging.Formatter):
    """``12:00:01  warning      message``: a log record in the shape of the event lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = f"{stamp}  {record.levelname.lower():<11}  {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(level: LogLevel, json_logs: bool) -> None:
    """Send the ``kaboodle`` loggers' records at ``level`` and above to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter())
    logger = logging.getLogger("kaboodle")
    logger.handlers[:] = [handler]
    logger.setLevel(level.value.upper())
    logger.propagate = False


class NodeOutput:
    """Writes a node's story on stdout: the banner, then one line per event.

    Args:
        json_lines: one JSON object per line instead of text for people.
        console: where the text goes (default: stdout).
    """

    def __init__(self, json_lines: bool, console: Console | None = None) -> None:
        self._json = json_lines
        self._console = console

    def emit(self, record: Mapping[str, Any]) -> None:
        """Write one record (an ``event`` key and its fields), stamped with the time now."""
        now = time.time()
        if self._json:
            sys.stdout.write(json.dumps({"time": _timestamp(now), **record}) + "\n")
            sys.stdout.flush()  # a pipe is block-buffered, and readers act on each line
            return
        # rich loads with the first line for people, which comes after the node's first
        # announce ("started"): a node's start-up is not held up by its drawing.
        from rich.console import Console

        from cli import render

        if self._console is None:
            self._console = Console(highlight=False, soft_wrap=True)
        if record.get("event") == "started":
            self._console.print(render.banner(record))
        else:
            self._console.print(render.event_line(record, now))
