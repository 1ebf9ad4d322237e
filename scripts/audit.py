#!/usr/bin/env python3
"""Audit Python and Markdown files for SQLAlchemy async / asyncpg / Pydantic v2 / Alembic pitfalls.

Usage: python scripts/audit.py PATH... [--format text|json] [--select RULES] [--ignore RULES] [--list-rules]
Run with --help for the rules, how code is recognised, and the exit codes.
"""

import sys
from pathlib import Path

# Works from any directory and without installing the package: skillproof lives beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from skillproof import run_script  # noqa: E402
from skillproof.audit.cli import main  # noqa: E402

if __name__ == "__main__":
    run_script(main)
