"""The one error type the runtime raises for problems with its environment."""

from __future__ import annotations

__all__ = ["KaboodleError"]


class KaboodleError(Exception):
    """The environment stops Kaboodle: no usable interface, no permission, a socket error.

    Protocol problems (a malformed datagram, a stale timer) are never raised this way; the core
    drops those. This error is for what the operator can fix, so its message says what is wrong
    and what to do about it, and the CLI prints it as is, without a traceback. When it wraps an
    ``OSError``, that error is chained as ``__cause__``.

    Args:
        message: what is wrong and what to do, in one or two sentences.
    """
