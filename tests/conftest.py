"""Fixtures for the validator's tests that run the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import VALIDATE


@pytest.fixture(scope="session")
def server_url(skillproof_provisioner) -> str:
    """A DATABASE_URL on the session's server for command-line runs (a scratch database of its own,
    so the run under test can clone its template freely)."""
    return skillproof_provisioner.create_database().url


@pytest.fixture
def cli(tmp_path: Path, server_url: str):
    """Run `python scripts/validate.py ARGS` in tmp_path; DATABASE_URL defaults to the session's server."""

    def cli(
        *args: str, database_url: str | None = server_url, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        return subprocess.run(
            [sys.executable, str(VALIDATE), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return cli
