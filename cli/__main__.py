"""``python -m cli``: the ``kaboodle`` command without its installed script."""

from cli.entry import main

main()
