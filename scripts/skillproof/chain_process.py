"""The process that runs one chain: fresh namespace, event loop, working directory and database.

It is forked from a server that has already imported the stack (multiprocessing "forkserver"), so a
chain starts in milliseconds. It reports to the scheduler over a pipe: ("begin", index, timeout) before
each step, ("result", BlockResult) after it, ("finding", Finding), then ("end",). The scheduler, not
this process, enforces timeouts: it kills this process group when a step overruns.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import importlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import types
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from .models import Block, BlockResult, Chain, Location, Status, Step
from .provision_postgres import Database, client_connections, connect_admin
from .rules import finding

DEFAULT_TIMEOUT = 30.0
_BASH_LINE = "__SKILLPROOF_FAILED_AT__"
_PSQL_ERROR = re.compile(r"^psql:[^:]+:(\d+): (.*)$")


@dataclass(frozen=True)
class ChainJob:
    chain: Chain
    database: Database  # created at the start of the chain and dropped at its end, by this process
    psql: str | None
    scratch: str  # a private directory made (and removed) by the scheduler
    owner: int  # the validator's pid: the chain dies with it
    default_timeout: float = DEFAULT_TIMEOUT


def main(job: ChainJob, conn) -> None:
    """Entry point in the child process."""
    _detach(job.owner)
    scratch = Path(job.scratch)
    workdir = scratch / "work"
    try:
        workdir.mkdir()
        ChainRunner(job, conn, workdir, scratch).run()
    except BaseException:  # noqa: BLE001 - a bug here must reach the report, not a lost stderr
        conn.send(("crash", traceback.format_exc()))
    else:
        conn.send(("end",))
    conn.close()


def _detach(owner: int) -> None:
    """Own process group, so the scheduler can kill this chain with everything it started; and die,
    taking that group along, when the validator (owner) dies, even by SIGKILL."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    # The fork server hands every child a copy of its "alive" pipe, which keeps the fork server running
    # while any child lives; drop ours so that the fork server exits with the validator.
    with contextlib.suppress(Exception):
        from multiprocessing import forkserver

        os.close(forkserver._forkserver._forkserver_alive_fd)  # noqa: SLF001
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: fork server gone

    def watch() -> None:  # portable backstop (macOS has no PDEATHSIG)
        while True:
            time.sleep(0.5)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os.killpg(0, signal.SIGKILL)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="skillproof-watchdog", daemon=True).start()


class ChainRunner:
    def __init__(self, job: ChainJob, conn, workdir: Path, scratch: Path) -> None:
        self.job = job
        self.conn = conn
        self.workdir = workdir
        self.scratch = scratch
        self.sources: dict[str, tuple[Path, int]] = {}  # written .py file -> (markdown, first code line)
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = __builtins__
        self.runner: asyncio.Runner | None = None

    # --- setup ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        os.chdir(self.workdir)
        for key in [k for k in os.environ if k.startswith("PG") or k == "DATABASE_URL"]:
            del os.environ[key]
        os.environ.update(self.job.database.env)
        os.environ["TZ"] = "UTC"
        time.tzset()
        # The venv's tools (python, alembic) first, then the server's client tools (psql), so that
        # bash blocks find the same ones wherever the validator runs.
        bindirs = [str(Path(sys.executable).parent)]
        if self.job.psql:
            bindirs.append(str(Path(self.job.psql).parent))
        os.environ["PATH"] = os.pathsep.join([*bindirs, os.environ.get("PATH", "")])
        # Only the installed stack and the chain's own files are importable, never the repository's
        # checkout (an examples/app package must not stand in for a file the chain forgot to write).
        sys.path[:] = [str(self.workdir)] + [p for p in sys.path if _is_installed_path(p)]
        sys.modules["__main__"] = self.module
        self._capture_output()
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in _deprecation_categories():
            warnings.simplefilter("error", category)
        self.runner = asyncio.Runner()

    def _capture_output(self) -> None:
        """Point fds 1 and 2 at files, so that output of the block and of anything it spawns is captured
        (and never reaches the validator's terminal); each block's share is read back by offset."""
        self.out_path, self.err_path = self.scratch / "stdout", self.scratch / "stderr"
        for fd, path in ((1, self.out_path), (2, self.err_path)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115

    def _offsets(self) -> tuple[int, int]:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.fstat(1).st_size, os.fstat(2).st_size

    def _read_since(self, offsets: tuple[int, int]) -> tuple[str, str]:
        self._offsets()
        out = _read_from(self.out_path, offsets[0])
        err = _read_from(self.err_path, offsets[1])
        return out, err

    # --- the chain ------------------------------------------------------------------------------
    def run(self) -> None:
        # A loop of its own for the admin connection, made before the chain's loop so that the chain's
        # loop is the current one while blocks run.
        self.admin_runner = asyncio.Runner()
        database = self.job.database
        self.admin = self.admin_runner.run(connect_admin(database))
        self.admin_runner.run(self.admin.execute(database.create_sql))
        try:
            self._run_steps()
        finally:
            self._finish_database()

    def _finish_database(self) -> None:
        """Report connections the chain left open (an undisposed engine), then drop the database."""
        database = self.job.database
        gc.collect()  # a connection only waiting for the cycle collector is not one the chain kept open
        leaked = self.admin_runner.run(client_connections(self.admin, database.name))
        if leaked:
            chain = self.job.chain
            self._send(
                "finding",
                finding(
                    "RUN006",
                    Location(chain.path, chain.first_line),
                    f"chain left {leaked} connection(s) open to its database: "
                    "await engine.dispose() (or close the connection) before the chain ends",
                ),
            )
        self.admin_runner.run(self.admin.execute(database.drop_sql))
        self._send("dropped", database.name)
        with contextlib.suppress(Exception):
            self.admin_runner.run(self.admin.close())
            self.admin_runner.close()

    def _run_steps(self) -> None:
        self._prepare()
        steps = self.job.chain.steps
        failed: BlockResult | None = None
        for index, step in enumerate(steps):
            if failed is not None:
                where = Location(failed.block.path, failed.line or failed.block.fence_line).display()
                self._send(
                    "result", BlockResult(step.block, Status.SKIPPED, message=f"skipped: {where} failed")
                )
                continue
            timeout = step.block.timeout or self.job.default_timeout
            self._send("begin", index, timeout)
            result = self._run_step(step)
            self._send("result", result)
            if result.status is Status.FAILED:
                failed = result
        assert self.runner is not None
        with contextlib.suppress(Exception):
            self.runner.close()

    def _send(self, *message) -> None:
        self.conn.send(message)

    def _run_step(self, step: Step) -> BlockResult:
        block = step.block
        offsets = self._offsets()
        started = time.perf_counter()
        if block.file_target is not None:
            result = self._write_file(block)
        elif block.language == "python":
            result = self._run_python(block)
        elif block.language == "bash":
            result = self._run_bash(block)
        else:
            result = self._run_sql(block)
        seconds = time.perf_counter() - started
        out, err = self._read_since(offsets)
        if isinstance(result, tuple):  # subprocess blocks return their own output
            result, out, err = result
        if result.status is Status.PASSED and step.output is not None:
            mismatch = compare_output(out, step.output.code)
            if mismatch:
                result = BlockResult(
                    block,
                    Status.FAILED,
                    message="stdout differs from the 'text output' block",
                    details=mismatch,
                    rule="RUN005",
                    line=step.output.fence_line,
                )
        if result.status is Status.FAILED and result.rule != "RUN005":
            captured = out + ("" if err.strip() and err.strip() in result.details else err)
            if captured.strip():
                details = result.details + "\n--- captured output ---\n" + _tail(captured.rstrip("\n"), 20)
                result = _with(result, details=details.strip("\n"))
        return _with(result, seconds=seconds)

    # --- block kinds ----------------------------------------------------------------------------
    def _write_file(self, block: Block) -> BlockResult:
        target = self.workdir / block.file_target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code, encoding="utf-8")
        if target.suffix == ".py":
            self.sources[str(target.resolve())] = (block.path, block.code_line)
            # A module of this name may have been imported from an earlier version of the file.
            module = next(
                (
                    name
                    for name, mod in list(sys.modules.items())
                    if getattr(mod, "__file__", None) and Path(mod.__file__).resolve() == target.resolve()
                ),
                None,
            )
            if module:
                del sys.modules[module]
        importlib.invalidate_caches()
        return BlockResult(block, Status.PASSED)

    def _run_python(self, block: Block) -> BlockResult:
        expected = block.flags.get("raises")
        try:
            code = compile(
                "\n" * (block.code_line - 1) + block.code,
                str(block.path),
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
            outcome = eval(code, self.module.__dict__)  # noqa: S307 - running the guidance is the point
            if asyncio.iscoroutine(outcome):
                assert self.runner is not None
                self.runner.run(outcome)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                return self._failure(block, exc, "RUN001")
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
            if isinstance(expected, str) and exception_matches(exc, expected):
                return BlockResult(block, Status.PASSED, message=f"raised {type(exc).__name__} as expected")
            if isinstance(expected, str):
                return self._failure(block, exc, "RUN003", prefix=f"expected {expected}, got ")
            rule = "RUN008" if isinstance(exc, Warning) else "RUN001"
            return self._failure(block, exc, rule)
        if isinstance(expected, str):
            return BlockResult(
                block,
                Status.FAILED,
                rule="RUN002",
                line=block.fence_line,
                message=f"expected {expected} to be raised, but the block finished without it",
            )
        return BlockResult(block, Status.PASSED)

    def _failure(self, block: Block, exc: BaseException, rule: str, prefix: str = "") -> BlockResult:
        details, line = self._map_traceback(exc, block)
        summary = _one_line(exc)
        return BlockResult(
            block, Status.FAILED, message=prefix + summary, details=details, rule=rule, line=line
        )

    def _map_traceback(self, exc: BaseException, block: Block) -> tuple[str, int]:
        """Frames in written files are shown at their Markdown line; our own frames are dropped.
        Returns the formatted traceback and the deepest Markdown line of the current block."""
        te = traceback.TracebackException.from_exception(exc)
        line = block.fence_line
        for current in _chain_of(te):
            kept = []
            for frame in current.stack:
                if "/skillproof/" in frame.filename.replace(os.sep, "/") and frame.filename.endswith(
                    ("chain_process.py",)
                ):
                    continue
                source = self.sources.get(frame.filename)
                if source is not None:
                    md, first = source
                    frame = traceback.FrameSummary(
                        str(md), first + frame.lineno - 1, frame.name, lookup_line=False, line=frame.line
                    )
                kept.append(frame)
                if current is te and frame.filename == str(block.path):
                    line = frame.lineno  # the deepest Markdown frame: this block or a file= block it called
            current.stack = traceback.StackSummary.from_list(kept)
        if isinstance(exc, SyntaxError) and exc.filename == str(block.path) and exc.lineno:
            line = exc.lineno
        return "".join(te.format()).rstrip("\n"), line

    def _run_bash(self, block: Block):
        script = self.scratch / f"block{block.fence_line}.sh"
        # The ERR trap names the failing line; it is one line, so the block's line k is LINENO k + 1.
        script.write_text(f"trap 'echo \"{_BASH_LINE} $LINENO\" >&2' ERR\n{block.code}", encoding="utf-8")
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", str(script)],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
        )
        err_lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(_BASH_LINE)]
        err = "\n".join(err_lines) + ("\n" if err_lines else "")
        if proc.returncode == 0:
            return BlockResult(block, Status.PASSED), proc.stdout, err
        marks = [ln.split()[-1] for ln in proc.stderr.splitlines() if ln.startswith(_BASH_LINE)]
        line = block.code_line + int(marks[0]) - 2 if marks and marks[0].isdigit() else block.fence_line
        last = next((ln for ln in reversed(err_lines) if ln.strip()), "")
        message = f"bash exited with status {proc.returncode}" + (f": {last.strip()}" if last else "")
        return BlockResult(block, Status.FAILED, message=message, rule="RUN001", line=line), proc.stdout, err

    def _run_sql(self, block: Block):
        if self.job.psql:
            script = self.scratch / f"block{block.fence_line}.sql"
            script.write_text(block.code, encoding="utf-8")
            proc = subprocess.run(
                [self.job.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)],
                cwd=self.workdir,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
            )
            if proc.returncode == 0:
                return BlockResult(block, Status.PASSED), proc.stdout, proc.stderr
            # psql names the script and its line; name the Markdown and its line instead.
            err = re.sub(
                rf"^psql:{re.escape(str(script))}:(\d+):",
                lambda m: f"{block.path.name}:{block.code_line + int(m[1]) - 1}:",
                proc.stderr,
                flags=re.M,
            )
            line, message = block.fence_line, err.strip().splitlines()[0] if err.strip() else ""
            for err_line in proc.stderr.splitlines():
                match = _PSQL_ERROR.match(err_line)
                if match:
                    line, message = block.code_line + int(match[1]) - 1, match[2].strip()
                    break
            return (
                BlockResult(
                    block,
                    Status.FAILED,
                    message=f"psql: {message}",
                    rule="RUN001",
                    line=line,
                    details=err.strip(),
                ),
                proc.stdout,
                err,
            )
        # No psql client: run the script with asyncpg (no output to compare).
        import asyncpg

        async def execute() -> None:
            conn = await asyncpg.connect(
                self.job.database.env["DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
            )
            try:
                await conn.execute(block.code)
            finally:
                await conn.close()

        try:
            assert self.runner is not None
            self.runner.run(execute())
        except Exception as exc:  # noqa: BLE001
            return BlockResult(
                block, Status.FAILED, message=_one_line(exc), rule="RUN001", line=block.fence_line
            )
        return BlockResult(block, Status.PASSED)


# --- helpers --------------------------------------------------------------------------------------


def _is_installed_path(entry: str) -> bool:
    """Standard library and site-packages entries (and this package's own dir), not project checkouts."""
    if not entry:
        return False
    path = os.path.abspath(entry)
    prefixes = {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if any(path == p or path.startswith(p + os.sep) for p in prefixes):
        return True
    parts = Path(path).parts
    return (
        "site-packages" in parts
        or "dist-packages" in parts
        or path == str(Path(__file__).resolve().parent.parent)
    )


def _deprecation_categories() -> list[type[Warning]]:
    categories: list[type[Warning]] = []
    with contextlib.suppress(ImportError):
        from sqlalchemy.exc import SADeprecationWarning

        categories.append(SADeprecationWarning)
    with contextlib.suppress(ImportError):
        from pydantic.warnings import PydanticDeprecationWarning

        categories.append(PydanticDeprecationWarning)
    return categories


def exception_matches(exc: BaseException, expected: str) -> bool:
    """raises=NAME matches a class name anywhere in the MRO, or a dotted path to one of its classes;
    an ExceptionGroup matches when any exception inside it does."""
    if isinstance(exc, BaseExceptionGroup):
        return any(exception_matches(inner, expected) for inner in exc.exceptions)
    for cls in type(exc).__mro__:
        if expected in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            return True
    if "." in expected:
        module, _, name = expected.rpartition(".")
        try:
            target = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return False
        return isinstance(target, type) and isinstance(exc, target)
    return False


def compare_output(actual: str, expected: str) -> str | None:
    """None when stdout matches; else a short diff. A line holding only '...' matches any lines."""
    got = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    want = [line.rstrip() for line in expected.rstrip("\n").splitlines()]
    if _lines_match(got, want):
        return None
    import difflib

    diff = difflib.unified_diff(want, got, "expected (text output)", "actual stdout", lineterm="", n=2)
    return "\n".join(_tail("\n".join(diff), 40).splitlines())


def _lines_match(got: list[str], want: list[str]) -> bool:
    # Dynamic programming over (got, want) positions; '...' consumes zero or more lines.
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if j == len(want):
            result = i == len(got)
        elif want[j].strip() == "...":
            result = match(i, j + 1) or (i < len(got) and match(i + 1, j))
        else:
            result = i < len(got) and got[i] == want[j] and match(i + 1, j + 1)
        memo[key] = result
        return result

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * (len(got) + len(want)) + 100))
    return match(0, 0)


def _chain_of(te: traceback.TracebackException):
    seen = set()
    current: traceback.TracebackException | None = te
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", errors="replace")


def _tail(text: str, lines: int) -> str:
    parts = text.splitlines()
    return "\n".join(parts if len(parts) <= lines else ["...", *parts[-lines:]])


def _with(result: BlockResult, **changes) -> BlockResult:
    return replace(result, **changes)
