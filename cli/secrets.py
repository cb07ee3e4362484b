"""Keys from files, never from the command line, and the one-line errors about them."""

from __future__ import annotations

from pathlib import Path

from .errors import CliError, ExitCode

__all__ = ["keys_from", "refuse_key_flag"]


def refuse_key_flag(key: str | None, command: str) -> None:
    """Fail when a key was given on the command line: every user of the machine can read a
    process's arguments (ps, /proc/PID/cmdline).

    Raises:
        CliError: ``--key`` was given (exit 2).
    """
    if key is not None:
        raise CliError(
            "--key is refused: a key in the command line can be read by every user of this "
            "machine (ps, /proc/PID/cmdline); write it to a file only you can read and pass "
            "--key-file PATH (or set KABOODLE_KEY_FILE)",
            ExitCode.USAGE,
            command,
        )


def keys_from(path: Path | None, command: str) -> list[bytes]:
    """The key in ``path`` (none when no file is given).

    Raises:
        CliError: the file cannot be read or holds no valid key (exit 2).
    """
    if path is None:
        return []
    from kaboodle.runtime.keyring import read_key_file  # the cipher, only when a key is given

    try:
        return [read_key_file(path)]
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE, command) from None
