"""`python -m bench.load` (bench/README.md)."""

import sys

from bench.load.cli import main

# Under the guard: the stand-ins' child process is spawned, and re-imports this module.
if __name__ == "__main__":
    sys.exit(main())
