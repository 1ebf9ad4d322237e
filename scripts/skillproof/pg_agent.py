"""A throwaway PostgreSQL for the agent itself: `python scripts/pg.py start | url | status | stop`.

Servers outlive the command that starts them (pg_launcher with tie_to_parent=False). Each server has a
state file NAME.json in a per-user state dir, and a small detached watchdog process that stops the server
once no client has been connected for --idle-timeout minutes, and exits when the server is gone. Only the
standard library is needed: SQL runs through the server's own psql (asyncpg if there is no psql).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from .pg_launcher import PgBinaries, PgError, PgNotFound, PgServer, _process_start, start_server

ENV_STATE_DIR = "SKILLPROOF_AGENT_STATE_DIR"
DATA_PREFIX = "skillproof-agentpg-"
DEFAULT_NAME = "app"
DEFAULT_IDLE_MINUTES = 30.0
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # also the database name: no quoting surprises
SCRIPTS_DIR = Path(__file__).resolve().parent.parent  # holds the skillproof package, for the watchdog
CLIENTS_SQL = (
    "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"
)
PROG = "pg.py"


class AgentError(Exception):
    exit_code = 1


class UsageError(AgentError):
    exit_code = 2


@dataclass
class Entry:
    """What the state file records about one running server."""

    name: str
    database: str
    host: str
    port: int
    user: str
    pid: int
    base_dir: str
    data_dir: str
    socket_dir: str
    bindir: str
    version: str
    source: str
    started_at: float
    idle_timeout_minutes: float
    watchdog_pid: int | None = None
    watchdog_start: str | None = None

    @property
    def url(self) -> str:
        return self.server().url(self.database)

    @property
    def libpq_url(self) -> str:
        return self.server().url(self.database, driver="")

    def server(self) -> PgServer:
        binaries = PgBinaries(Path(self.bindir), self.version, self.source)
        return PgServer(
            binaries,
            self.host,
            self.port,
            self.user,
            Path(self.base_dir),
            Path(self.data_dir),
            Path(self.socket_dir),
            self.pid,
        )


# ---------------------------------------------------------------------------------------------------------
# State


def state_dir() -> Path:
    override = os.environ.get(ENV_STATE_DIR)
    path = Path(override) if override else Path(tempfile.gettempdir()) / f"skillproof-agent-{os.geteuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if path.is_symlink() or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise AgentError(f"state dir {path} is not private to you; remove it or set {ENV_STATE_DIR}")
    return path


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One lock per state dir: commands and watchdogs never change the same entry at once."""
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def load(directory: Path, name: str) -> Entry | None:
    try:
        return Entry(**json.loads((directory / f"{name}.json").read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise AgentError(f"unreadable state file {directory / name}.json ({exc}); delete it") from None


def load_all(directory: Path) -> list[Entry]:
    entries = []
    for path in sorted(directory.glob("*.json")):
        try:
            entry = load(directory, path.stem)
        except AgentError as exc:  # one bad file must not hide (or block stopping) the other servers
            print(f"{PROG}: {exc}", file=sys.stderr)
            continue
        if entry is not None:
            entries.append(entry)
    return entries


def save(directory: Path, entry: Entry) -> None:
    tmp = directory / f".{entry.name}.json.tmp"
    tmp.write_text(json.dumps(asdict(entry), indent=1))
    os.replace(tmp, directory / f"{entry.name}.json")


def forget(directory: Path, name: str) -> None:
    for suffix in (".json", ".activity", ".watch.log"):
        with contextlib.suppress(FileNotFoundError):
            (directory / f"{name}{suffix}").unlink()


def last_active(directory: Path, entry: Entry) -> float:
    try:
        return max(float((directory / f"{entry.name}.activity").read_text()), entry.started_at)
    except (OSError, ValueError):
        return entry.started_at


def alive(entry: Entry) -> bool:
    return entry.server().alive()  # checks that the pid still runs a postmaster of this data dir


def watchdog_alive(entry: Entry) -> bool:
    return entry.watchdog_pid is not None and _process_start(entry.watchdog_pid) == entry.watchdog_start


def stop_entry(directory: Path, entry: Entry, *, stop_watchdog: bool = True) -> None:
    if stop_watchdog and watchdog_alive(entry):
        assert entry.watchdog_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(entry.watchdog_pid, signal.SIGTERM)
    entry.server().stop()  # also removes the data dir
    forget(directory, entry.name)


# ---------------------------------------------------------------------------------------------------------
# SQL, the watchdog


def run_sql(entry: Entry, sql: str, database: str = "postgres") -> str:
    server = entry.server()
    psql = server.binaries.tool("psql")
    if psql is None:
        return _run_sql_asyncpg(server, sql, database)
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "PGCONNECT_TIMEOUT": "10"}
    env.update(server.libpq_env(database))  # a fresh env: no PGPASSWORD or PGSERVICE of the caller
    try:
        done = subprocess.run(
            [str(psql), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AgentError(f"could not run {psql}: {exc}") from exc
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
        raise AgentError(f"psql failed: {message}")
    return done.stdout.strip()


def _run_sql_asyncpg(server: PgServer, sql: str, database: str) -> str:
    try:
        import asyncio

        import asyncpg
    except ImportError:
        raise AgentError(f"no psql in {server.binaries.bindir} and no asyncpg; pip install asyncpg") from None

    async def run() -> str:
        conn = await asyncpg.connect(server.url(database, driver=""), timeout=10)
        try:
            return str(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def ensure_watchdog(directory: Path, entry: Entry) -> None:
    if watchdog_alive(entry):
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS_DIR), env.get("PYTHONPATH")) if p)
    args = [
        sys.executable,
        "-m",
        "skillproof.pg_agent",
        "_watch",
        "--name",
        entry.name,
        "--pid",
        str(entry.pid),
        "--state-dir",
        str(directory),
    ]
    with open(directory / f"{entry.name}.watch.log", "ab") as log:
        # Its own session and no inherited pipes: the command that starts it returns at once.
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", env=env, start_new_session=True
        )
    entry.watchdog_pid, entry.watchdog_start = proc.pid, _process_start(proc.pid)
    save(directory, entry)


def watch(directory: Path, name: str, server_pid: int) -> None:
    """Poll until the server has had no client for its idle timeout, then stop it; exit if it is gone."""
    entry = load(directory, name)
    while entry is not None and entry.pid == server_pid:  # else stopped, or replaced (with its own watchdog)
        if idle_or_dead(directory, entry):
            with locked(directory):
                current = load(directory, name)
                # Checked again under the lock: a client may have connected in the meantime.
                if current and current.pid == server_pid and idle_or_dead(directory, current):
                    stop_entry(directory, current, stop_watchdog=False)  # removes the data dir and the state
                    return
        time.sleep(min(max(entry.idle_timeout_minutes * 6, 0.2), 15.0))  # a tenth of the timeout
        with contextlib.suppress(
            AgentError
        ):  # an unreadable state file: keep watching with the last good one
            entry = load(directory, name)  # re-read: `start --idle-timeout` may have changed the timeout


def idle_or_dead(directory: Path, entry: Entry) -> bool:
    if not alive(entry):
        return True
    idle_for = time.time() - last_active(directory, entry)
    return not busy(directory, entry) and idle_for >= entry.idle_timeout_minutes * 60


def busy(directory: Path, entry: Entry) -> bool:
    """Whether a client is connected (recorded as activity); True when that cannot be told."""
    try:
        connected = int(run_sql(entry, CLIENTS_SQL)) > 0
    except (AgentError, ValueError, OSError):
        return True  # e.g. too many connections: never stop a server that may be in use
    if connected:
        (directory / f"{entry.name}.activity").write_text(repr(time.time()))
    return connected


# ---------------------------------------------------------------------------------------------------------
# Commands


def cmd_start(args: argparse.Namespace) -> int:
    directory = state_dir()
    with locked(directory):
        entry = load(directory, args.name)
        if entry and alive(entry):
            if args.idle_timeout is not None and args.idle_timeout != entry.idle_timeout_minutes:
                entry.idle_timeout_minutes = args.idle_timeout
                save(directory, entry)
            ensure_watchdog(directory, entry)
            emit(entry, args.format, reused=True)
            return 0
        if entry:
            print(f"{PROG}: server {args.name!r} had stopped; starting a new one", file=sys.stderr)
            stop_entry(directory, entry)
        server = start_server(tie_to_parent=False, prefix=DATA_PREFIX)
        try:
            entry = Entry(
                args.name,
                args.name,
                server.host,
                server.port,
                server.user,
                server.pid,
                str(server.base_dir),
                str(server.data_dir),
                str(server.socket_dir),
                str(server.binaries.bindir),
                server.binaries.version,
                server.binaries.source,
                time.time(),
                args.idle_timeout or DEFAULT_IDLE_MINUTES,
            )
            if args.name != "postgres":
                run_sql(entry, f'create database "{args.name}"')
            save(directory, entry)
            ensure_watchdog(directory, entry)
            # The idle clock starts now that the URL is handed out, not when the server came up.
            (directory / f"{args.name}.activity").write_text(repr(time.time()))
        except BaseException:
            server.stop()
            forget(directory, args.name)
            raise
    emit(entry, args.format, reused=False)
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    directory = state_dir()
    with locked(directory):
        entry = load(directory, args.name)
        if entry and not alive(entry):
            stop_entry(directory, entry)
            raise AgentError(
                f"server {args.name!r} has stopped (idle timeout or crash); {_start_hint(args.name)}"
            )
    if entry is None:
        raise AgentError(f"no server named {args.name!r} is running; {_start_hint(args.name)}")
    emit(entry, args.format)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    directory = state_dir()
    rows: list[dict[str, Any]] = []
    with locked(directory):
        for entry in load_all(directory):
            if not alive(entry):
                stop_entry(directory, entry)
                rows.append({"name": entry.name, "state": "died", "data_dir": entry.data_dir})
                continue
            ensure_watchdog(directory, entry)
            now = time.time()
            rows.append(
                {
                    **describe(entry),
                    "state": "running",
                    "age_seconds": round(now - entry.started_at, 1),
                    "idle_seconds": round(now - last_active(directory, entry), 1),
                }
            )
    if args.format == "json":
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no throwaway PostgreSQL servers; {_start_hint(DEFAULT_NAME)}")
    for row in rows:
        if row["state"] == "died":
            print(f"{row['name']}: had died; cleaned up")
        else:
            print(
                f"{row['name']}: running {row['url']}  age {_duration(row['age_seconds'])}  "
                f"idle {_duration(row['idle_seconds'])} "
                f"(stops after {_duration(row['idle_timeout_minutes'] * 60)})  "
                f"PostgreSQL {row['version']}  pid {row['pid']}"
            )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    directory = state_dir()
    with locked(directory):
        entries = load_all(directory) if args.all else [e for e in [load(directory, args.name)] if e]
        for entry in entries:
            stop_entry(directory, entry)
            print(f"stopped {entry.name}")
    if not entries:
        print(
            "no throwaway PostgreSQL servers were running" if args.all else f"no server named {args.name!r}"
        )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    watch(Path(args.state_dir), args.name, args.pid)
    return 0


def describe(entry: Entry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "url": entry.url,
        "libpq_url": entry.libpq_url,
        "database": entry.database,
        "version": entry.version,
        "binaries": entry.source,
        "data_dir": entry.data_dir,
        "pid": entry.pid,
        "idle_timeout_minutes": entry.idle_timeout_minutes,
    }


def emit(entry: Entry, fmt: str, *, reused: bool | None = None) -> None:
    if fmt == "json":
        print(json.dumps({**describe(entry), **({} if reused is None else {"reused": reused})}))
    else:
        print(f"DATABASE_URL={entry.url}")


def _start_hint(name: str) -> str:
    return f"start one with: python scripts/pg.py start --name {name}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds % 60 else f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# ---------------------------------------------------------------------------------------------------------
# Command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _name(text: str) -> str:
    if not NAME_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid name (letters, digits, _; at most 63)")
    return text


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of minutes")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A throwaway PostgreSQL server for running and testing database code. It keeps running "
        "across commands, stops itself after an idle timeout, and never needs Docker or root.",
        epilog='Typical use: export "$(python scripts/pg.py start)"; run your code and tests; '
        "python scripts/pg.py stop.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{start,url,status,stop}")
    name_help = f"server name, also the database name (default {DEFAULT_NAME})"
    format_help = "text (default) prints DATABASE_URL=...; json adds the libpq URL, version, data dir, pid"

    start = commands.add_parser(
        "start",
        help="start a server (or reuse a running one) and print its URL",
        description="Start a throwaway server in the background, create the database "
        "NAME and print DATABASE_URL=postgresql+asyncpg://... . Starting a name that "
        "is already running prints the same URL again.",
    )
    start.add_argument("--name", type=_name, default=DEFAULT_NAME, help=name_help)
    start.add_argument(
        "--idle-timeout",
        type=_minutes,
        metavar="MINUTES",
        help=f"stop after this many minutes without a client connection (default "
        f"{DEFAULT_IDLE_MINUTES:g}; fractions allowed)",
    )
    start.add_argument("--format", choices=("text", "json"), default="text", help=format_help)
    start.set_defaults(run=cmd_start)

    url = commands.add_parser(
        "url",
        help="print the URL of a running server",
        description="Print DATABASE_URL=... for a running server.",
    )
    url.add_argument("--name", type=_name, default=DEFAULT_NAME, help=name_help)
    url.add_argument("--format", choices=("text", "json"), default="text", help=format_help)
    url.set_defaults(run=cmd_url)

    status = commands.add_parser(
        "status",
        help="list running servers with their age and idle time",
        description="List running servers; servers that died are reported and cleaned up.",
    )
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(run=cmd_status)

    stop = commands.add_parser(
        "stop",
        help="stop a server and delete its data",
        description="Stop a server and delete its data directory.",
    )
    which = stop.add_mutually_exclusive_group()
    which.add_argument("--name", type=_name, default=DEFAULT_NAME, help=name_help)
    which.add_argument("--all", action="store_true", help="stop every server of yours")
    stop.set_defaults(run=cmd_stop)

    watch_cmd = commands.add_parser("_watch")  # internal: the idle watchdog
    watch_cmd.add_argument("--name", required=True)
    watch_cmd.add_argument("--pid", type=int, required=True)
    watch_cmd.add_argument("--state-dir", required=True)
    watch_cmd.set_defaults(run=cmd_watch)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except PgNotFound as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except (AgentError, PgError) as exc:
        print(f"{PROG}: {exc}" if not str(exc).startswith(PROG) else str(exc), file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
