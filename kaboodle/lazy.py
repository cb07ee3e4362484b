"""Names a package exports but imports only on first use, so that importing it stays cheap.

``kaboodle fingerprint`` runs every few seconds in healthchecks: it needs the control socket's
client, not the asyncio runtime, the cipher or the interface scanner that ``import kaboodle``
would otherwise load.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports ``exports`` on demand.

    Args:
        package: the package's ``__name__``.
        exports: each lazy name and the module, absolute or relative to ``package``, that
            defines it.
    """

    def attribute(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # from now on a plain attribute
        return value

    return attribute
