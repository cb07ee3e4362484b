"""The ``kaboodle`` command line."""
