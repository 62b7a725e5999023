"""`python -m paycli` runs the command line."""

from paycli.cli import app

app()
