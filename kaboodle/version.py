"""The version of Kaboodle, read by the package metadata (pyproject.toml) and the control socket."""

__version__ = "0.1.0"
