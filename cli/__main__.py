"""``python -m cli``: the ``kaboodle`` command without its installed script."""

from cli.main import app

app(prog_name="kaboodle")
