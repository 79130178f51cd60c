"""``python -m lyrebird`` is the ``lyrebird`` command."""

from lyrebird.cli import main

main()
