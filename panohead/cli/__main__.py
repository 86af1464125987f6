"""``python -m panohead.cli``: the same as the ``panohead`` command."""

from panohead.cli import main

main()
