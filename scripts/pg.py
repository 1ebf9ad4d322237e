#!/usr/bin/env python3
"""A throwaway PostgreSQL server for the agent: `python scripts/pg.py start | url | status | stop --help`."""

import sys
from pathlib import Path

# Works from any cwd and without installing anything: the skillproof package sits next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from skillproof import run_script  # noqa: E402
from skillproof.pg_agent import main  # noqa: E402

if __name__ == "__main__":
    run_script(main)
