"""The project's own code, and the reference project the skill mirrors, pass ruff as configured."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("cwd", "paths"),
    [(ROOT, ["scripts", "tests", "conftest.py"]), (ROOT / "examples", ["."])],
    ids=["validator", "examples"],
)
def test_ruff_check_and_format(cwd: Path, paths: list[str]):
    check = ruff("check", "--no-cache", *paths, cwd=cwd)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = ruff("format", "--check", "--no-cache", *paths, cwd=cwd)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
