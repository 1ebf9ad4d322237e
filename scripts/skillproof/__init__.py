"""skillproof: the engine behind scripts/validate.py (and the audit and pg helpers beside it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with main()'s code. Output piped into a reader that stops early (`| head`) ends quietly,
    not with a BrokenPipeError traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    sys.exit(code)
