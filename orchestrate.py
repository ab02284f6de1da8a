"""goalsync's entry point: `uv run orchestrate.py [command]` (see README)."""

import sys

from goalsync.cli import main

if __name__ == "__main__":
    sys.exit(main())
