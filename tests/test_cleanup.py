"""Interrupted and killed runs leave nothing behind: no scratch database, no server, no chain process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import psutil
import pytest
from helpers import VALIDATE, wait_until, write
from sqlalchemy.engine import make_url

SLEEPER = """
```python timeout=60
import time
time.sleep(60)
```
"""


def scratch_databases(url: str) -> set[str]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def fetch() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'skillproof%'")
            return {r["datname"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def start(tmp_path: Path, database_url: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, str(VALIDATE), "doc.md"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sleeping_chain(proc: subprocess.Popen) -> psutil.Process:
    """The chain process running the sleeper (a descendant of the validator)."""

    def find():
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        return next((k for k in kids if _pgid(k) == k.pid and "python" in k.name().lower()), None)

    chain = wait_until(find, timeout=30)
    assert chain, "the chain process never started"
    return chain


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def gone(processes: list[psutil.Process], timeout: float = 10.0) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


@pytest.fixture
def before(server_url):
    return scratch_databases(server_url)


def test_ctrl_c_removes_scratch_databases_and_chain_processes(tmp_path: Path, server_url, before):
    write(tmp_path, "doc.md", SLEEPER)
    proc = start(tmp_path, server_url)
    chain = sleeping_chain(proc)
    assert scratch_databases(server_url) - before  # the run's template and chain database exist
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert gone([chain])
    assert scratch_databases(server_url) == before


def test_killed_run_on_database_url_is_swept_by_the_next_run(tmp_path: Path, server_url, before):
    write(tmp_path, "doc.md", SLEEPER)
    proc = start(tmp_path, server_url)
    chain = sleeping_chain(proc)
    proc.kill()
    proc.wait(10)
    assert gone([chain]), "the chain process must die with the validator"
    leftovers = scratch_databases(server_url) - before
    assert leftovers  # nobody could drop them...
    write(tmp_path, "doc.md", "```python\nx = 1\n```\n")
    again = start(tmp_path, server_url)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert scratch_databases(server_url) == before  # ...so the next run swept them


def temp_entries() -> set[Path]:
    """What a run may leave in the temp dirs: our own dirs, multiprocessing's, PostgreSQL's shared memory."""
    tmp = Path(tempfile.gettempdir())
    found = {*tmp.glob("skillproof-run-*"), *tmp.glob("skillproof-mp-*"), *tmp.glob("pymp-*")}
    return found | set(Path("/dev/shm").glob("PostgreSQL.*"))


def test_killed_run_with_embedded_server_leaves_no_server(tmp_path: Path):
    entries_before = temp_entries()
    write(tmp_path, "doc.md", SLEEPER)
    proc = start(tmp_path, None)
    chain = sleeping_chain(proc)
    family = [p for p in psutil.Process(proc.pid).children(recursive=True)]
    servers = [p for p in family if p.name() == "postgres"]
    assert servers, [p.name() for p in family]
    data_dirs = {Path(arg) for p in servers for arg in p.cmdline() if "skillproof-pg-" in arg}
    proc.kill()
    proc.wait(10)
    assert gone([chain, *servers]), "server and chain must die with the validator"
    write(tmp_path, "doc.md", "```python\nx = 1\n```\n")
    again = start(tmp_path, None)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert not any(d.exists() for d in data_dirs), data_dirs
    assert temp_entries() <= entries_before, temp_entries() - entries_before
