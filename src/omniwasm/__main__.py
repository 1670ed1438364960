"""``python -m omniwasm`` runs the CLI."""

from .cli import main

main()
