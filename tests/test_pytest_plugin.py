"""pytest runs each Markdown document of a bundle as one test item, through the validator's engine."""

import os
import pty
import subprocess
import sys
from pathlib import Path

from helpers import VALIDATE, write

SKILL = """---
name: demo
description: Demonstrates things. Use when testing the plugin.
---
# Demo

Load [the workflow](workflows/steps.md) when you need steps, [the reference](references/broken.md) for depth.
"""


def run_pytest(directory: Path, server_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": server_url}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "skillproof.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(directory),
            "-c",
            "/dev/null",
            *args,
            str(directory),
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_one_item_per_document_and_failures_name_file_and_line(tmp_path: Path, server_url):
    write(tmp_path, "SKILL.md", SKILL)
    write(tmp_path, "workflows/steps.md", "# Steps\n\n```python\nassert 1 + 1 == 2\n```\n")
    write(tmp_path, "references/broken.md", "# Broken\n\n```python\nraise LookupError('missing')\n```\n")
    write(tmp_path, "README.md", "# Not part of the skill\n\n```python\nraise SystemExit(1)\n```\n")
    proc = run_pytest(tmp_path, server_url, "-v")
    out = proc.stdout
    assert "SKILL.md::validate PASSED" in out
    assert "workflows/steps.md::validate PASSED" in out
    assert "references/broken.md::validate FAILED" in out
    assert "README.md" not in out  # not part of the skill, never collected
    assert "references/broken.md:4: RUN001 LookupError: missing" in out
    # The short summary names the failure itself, not a header.
    assert "FAILED references/broken.md::validate - references/broken.md:4: RUN001" in out
    assert "1 failed, 2 passed" in out.splitlines()[-1]
    assert proc.returncode == 1


def test_progress_line_on_a_terminal(tmp_path: Path, server_url):
    write(tmp_path, "doc.md", "```python\nx = 1\n```\n\n```python\ny = 2\n```\n")
    parent, child = pty.openpty()
    env = {**os.environ, "DATABASE_URL": server_url}
    proc = subprocess.Popen(
        [sys.executable, str(VALIDATE), "doc.md"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=child,
    )
    os.close(child)
    out, _ = proc.communicate(timeout=60)
    terminal = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    os.close(parent)
    assert proc.returncode == 0, out
    assert b"\rchains " in terminal and b"2/2" in terminal
    assert b"\r" not in out  # progress never pollutes the report on stdout
