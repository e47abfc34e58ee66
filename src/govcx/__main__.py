"""`python -m govcx` runs the command line, like the `govcx` script."""

from govcx.cli.main import main

main()
