"""paycli: a command-line payments operator tool over a double-entry SQLite ledger."""

__version__ = "0.1.0"
