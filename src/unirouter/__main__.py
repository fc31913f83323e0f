"""``python -m unirouter``: the same command line as the ``unirouter`` script (SPEC §6.2)."""

from unirouter.cli import main

main(prog_name="unirouter")
