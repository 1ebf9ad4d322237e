#!/usr/bin/env python3
"""Validate the skill bundle: check its form and run every code block on a real PostgreSQL.

Usage: python scripts/validate.py [PATH ...] [FILE.md:LINE ...]   (see --help)
"""

import sys
from pathlib import Path

# Importable from any working directory, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from skillproof import run_script  # noqa: E402
from skillproof.cli import main  # noqa: E402

if __name__ == "__main__":
    run_script(main)
