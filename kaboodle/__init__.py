"""Kaboodle: zero-configuration peer discovery and membership (SWIM) for Python services."""

__version__ = "0.1.0"
