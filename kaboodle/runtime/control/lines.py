"""The control protocol's framing, both ways: one compact JSON object per line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["REPLY_LIMIT", "json_line"]

REPLY_LIMIT = 256 * 1024 * 1024
"""The longest line a client reads: a view of 10,000 members is a few MB; leave room."""


def json_line(obj: Mapping[str, Any]) -> bytes:
    """One object as the control protocol writes it, either way: compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
