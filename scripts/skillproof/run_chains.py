"""Stage 5: run chains in parallel worker processes, each on its own scratch database.

A chain is never split: one process runs all its blocks in order. The scheduler here starts up to
`jobs` chain processes at once, enforces each block's timeout (killing the chain's process group), and
turns a chain process that dies into a finding instead of a hang. Documents' chains interleave freely,
since each chain owns its database, directory and namespace.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from . import chain_process
from .chain_process import ChainJob
from .models import BlockResult, Chain, ChainResult, Finding, Location, Status
from .provision_postgres import Database, InfrastructureError, Provisioner

RUN_DIR_PREFIX = "skillproof-run-"  # a run's chain directories
MP_DIR_PREFIX = "skillproof-mp-"  # the fork server's socket
STARTUP_GRACE = 60.0  # seconds for a chain process to report its first block
# Imported once in the fork server, so each chain process starts with the stack already loaded.
PRELOAD = [
    "asyncio",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql",
    "asyncpg",
    "pydantic",
    "pydantic_settings",
    "alembic",
    "alembic.command",
    "fastapi",
    "httpx",
    "skillproof.chain_process",
    "skillproof.forkserver_freeze",  # last: freezes what the imports above created
]


@dataclass
class Progress:
    done: int
    total: int
    running: list[str]
    passed: int
    failed: int


@dataclass
class RunOptions:
    jobs: int = 0  # 0: one per CPU, at least 2
    default_timeout: float = chain_process.DEFAULT_TIMEOUT
    on_progress: Callable[[Progress], None] | None = None


_context = None


def mp_context():
    """A fork server (POSIX): chain processes start in milliseconds with the stack already imported,
    and share nothing else with the validator."""
    global _context
    if _context is None:
        if sys.platform == "win32" or "forkserver" not in multiprocessing.get_all_start_methods():
            raise InfrastructureError(
                "running blocks needs Linux or macOS (a fork server and process groups)"
            )
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        # multiprocessing keeps the fork server's socket in a pymp-* temp dir that a killed
        # validator would leave behind; use an owned dir that the next run sweeps instead.
        config = multiprocessing.current_process()._config  # noqa: SLF001
        if "tempdir" not in config:
            config["tempdir"] = owned_temp_dir(MP_DIR_PREFIX)
            atexit.register(shutil.rmtree, config["tempdir"], True)
    return _context


def warm_up() -> None:
    """Start the fork server now (it imports the stack), e.g. while PostgreSQL boots."""
    from multiprocessing import forkserver

    mp_context()
    forkserver.ensure_running()


@dataclass
class _Active:
    chain: Chain
    database: Database
    process: multiprocessing.process.BaseProcess
    conn: object
    scratch: str  # the chain's private directory (its working directory lives inside)
    started: float
    deadline: float
    current: int | None = None  # index of the step running now
    timeout: float = 0.0  # of the step running now
    results: list[BlockResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    ended: bool = False  # the process said "end" (or "crash")
    gone: bool = False  # the pipe closed: the process exited or died
    timed_out: bool = False
    dropped: bool = False  # the chain process dropped its database itself
    crash: str = ""


def run_chains(
    chains: list[Chain], provisioner: Provisioner, options: RunOptions | None = None, psql: str | None = None
) -> list[ChainResult]:
    options = options or RunOptions()
    jobs = options.jobs or max(2, os.cpu_count() or 1)
    ctx = mp_context()
    pending = deque(sorted(chains, key=_weight, reverse=True))  # longest first: the last one ends soonest
    active: dict[object, _Active] = {}
    finished: list[ChainResult] = []
    counts = {"passed": 0, "failed": 0}

    def report_progress() -> None:
        if options.on_progress:
            options.on_progress(
                Progress(
                    len(finished),
                    len(chains),
                    [a.chain.label for a in active.values()],
                    counts["passed"],
                    counts["failed"],
                )
            )

    run_dir = owned_temp_dir(RUN_DIR_PREFIX)
    try:
        while pending or active:
            while pending and len(active) < jobs:
                chain = pending.popleft()
                database = provisioner.reserve_database()  # the chain process creates and drops it
                scratch = tempfile.mkdtemp(prefix="chain-", dir=run_dir)
                reader, writer = ctx.Pipe(duplex=False)
                job = ChainJob(
                    chain=chain,
                    database=database,
                    psql=psql,
                    scratch=scratch,
                    owner=os.getpid(),
                    default_timeout=options.default_timeout,
                )
                process = ctx.Process(target=chain_process.main, args=(job, writer), daemon=False)
                process.start()
                writer.close()
                now = time.monotonic()
                active[reader] = _Active(chain, database, process, reader, scratch, now, now + STARTUP_GRACE)
                report_progress()

            timeout = max(0.0, min(a.deadline for a in active.values()) - time.monotonic())
            for conn in wait(list(active), timeout=timeout):
                _drain(active[conn])
            now = time.monotonic()
            for conn, run in list(active.items()):
                if not (run.ended or run.gone):
                    if now < run.deadline:
                        continue
                    run.timed_out = run.current is not None
                _kill(run)
                result = _finish(run, now)
                if run.dropped:
                    provisioner.release(run.database.name)
                else:  # killed, or crashed before it could drop its database
                    provisioner.drop_database(run.database.name)
                shutil.rmtree(run.scratch, ignore_errors=True)
                del active[conn]
                finished.append(result)
                for r in result.results:
                    if r.status in (Status.PASSED, Status.FAILED):
                        counts[r.status.value] += 1
                report_progress()
    finally:
        for run in active.values():  # interrupted: stop everything we started
            _kill(run)
            try:
                provisioner.drop_database(run.database.name)
            except Exception:  # noqa: BLE001 - the provisioner sweeps what is left at close
                pass
        shutil.rmtree(run_dir, ignore_errors=True)
    return finished


def owned_temp_dir(prefix: str) -> str:
    """A private temp dir with an owner file, made after sweeping the dirs of earlier runs that were
    killed before they could remove theirs."""
    from .pg_launcher import owner_is_dead, write_owner

    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        if stale.is_dir() and owner_is_dead(stale):
            shutil.rmtree(stale, ignore_errors=True)
    directory = tempfile.mkdtemp(prefix=prefix)
    write_owner(Path(directory), os.getpid())
    return directory


def _weight(chain: Chain) -> int:
    """A guess at a chain's run time: shell blocks (alembic, psql) cost far more than Python ones."""
    return sum(10 if step.block.language == "bash" else 1 for step in chain.steps)


def _drain(run: _Active) -> None:
    try:
        while run.conn.poll():
            message = run.conn.recv()
            kind = message[0]
            if kind == "begin":
                _, run.current, run.timeout = message
                run.deadline = time.monotonic() + run.timeout
            elif kind == "result":
                run.results.append(message[1])
                run.current = None
                run.deadline = time.monotonic() + STARTUP_GRACE
            elif kind == "finding":
                run.findings.append(message[1])
            elif kind == "dropped":
                run.dropped = True
            elif kind == "crash":
                run.crash = message[1]
                run.ended = True
            elif kind == "end":
                run.ended = True
    except (EOFError, OSError):
        run.gone = True


def _kill(run: _Active) -> None:
    pid = run.process.pid
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGKILL)  # the chain process leads its own group (bash, psql, alembic too)
    except (ProcessLookupError, PermissionError, AttributeError):
        run.process.kill()
    run.process.join(5)


def _finish(run: _Active, now: float) -> ChainResult:
    """Turn what the chain process reported into results for every step, whatever happened."""
    run.process.join(5)
    steps = run.chain.steps
    results = list(run.results)
    findings = list(run.findings)
    if len(results) < len(steps):
        index = len(results)
        block = steps[index].block
        if run.timed_out:
            results.append(
                BlockResult(
                    block,
                    Status.FAILED,
                    rule="RUN004",
                    line=block.fence_line,
                    message=f"timed out after {run.timeout:g} s and was stopped",
                    seconds=run.timeout,
                )
            )
        else:
            code = run.process.exitcode
            how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
            why = (
                run.crash.strip().splitlines()[-1]
                if run.crash.strip()
                else f"the chain's process died ({how})"
            )
            results.append(
                BlockResult(
                    block,
                    Status.FAILED,
                    rule="RUN007",
                    line=block.fence_line,
                    message=why,
                    details=run.crash.strip(),
                )
            )
        where = Location(block.path, block.fence_line).display()
        for step in steps[index + 1 :]:
            results.append(BlockResult(step.block, Status.SKIPPED, message=f"skipped: {where} failed"))
    return ChainResult(run.chain, tuple(results), tuple(findings), seconds=now - run.started)
