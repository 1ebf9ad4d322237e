"""Tests of the static audit (scripts/audit.py, package skillproof.audit).

Every rule has at least one source it must flag and one near-miss it must pass; the fixture projects
check the whole pipeline: tests/fixtures/audit/clean has zero findings, tests/fixtures/audit/bad has
exactly the findings listed below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import pytest
from skillproof.audit import (
    RULES,
    Finding,
    Snippet,
    audit_blocks,
    audit_markdown,
    audit_paths,
    audit_snippets,
    audit_source,
    project_facts,
)
from skillproof.audit.cli import main
from skillproof.audit.engine import noqa_codes

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "audit"
AUDIT = ROOT / "scripts" / "audit.py"

ASYNC = "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine\n"


def audit(source: str, filename: str = "app/module.py", **kwargs) -> list[Finding]:
    return audit_source(dedent(source), filename, **kwargs)


def rules(source: str, filename: str = "app/module.py", **kwargs) -> list[str]:
    return [f.rule for f in audit(source, filename, **kwargs)]


# --- one flagged source and one passing near-miss per case -------------------------------------
# (rule, id, source that must be flagged by rule, source that must not be)
CASES: list[tuple[str, str, str, str]] = [
    (
        "DBA001",
        "literal",
        """
        from sqlalchemy.ext.asyncio import AsyncSession
        async def f(session: AsyncSession):
            await session.execute("SELECT 1")
        class Repo:
            def __init__(self, session: AsyncSession) -> None:
                self.session = session
            async def count(self):
                return await self.session.scalar("SELECT count(*) FROM t")
        """,
        """
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import AsyncSession
        async def f(session: AsyncSession):
            await session.execute(text("SELECT 1"))
            await (await session.connection()).exec_driver_sql("SELECT 1")
        """,
    ),
    (
        "DBA001",
        "fstring-and-constant",
        """
        import sqlalchemy as sa
        QUERY = "SELECT * FROM users"
        async def f(conn, name):
            await conn.execute(f"SELECT * FROM users WHERE name = '{name}'")
            await conn.scalar(QUERY)
        """,
        """
        import sqlalchemy as sa
        QUERY = sa.text("SELECT * FROM users")
        async def f(conn, name):
            await conn.scalar(QUERY)
        """,
    ),
    (
        "DBA001",
        "session-without-sqlalchemy-import",
        """
        async def f(db_session):
            await db_session.execute("DELETE FROM users")
        """,
        """
        import asyncpg
        import sqlalchemy
        from alembic import op
        async def f(dsn, cursor):
            conn = await asyncpg.connect(dsn)
            await conn.execute("SELECT 1")
            cursor.execute("SELECT 1")
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        async def connect(dsn) -> asyncpg.Connection:
            return await asyncpg.connect(dsn)
        class Admin:
            def __init__(self):
                self._admin: asyncpg.Connection | None = None
            async def start(self, dsn):
                self._admin = await connect(dsn)
                await self._admin.execute(f'CREATE DATABASE "{dsn}"')
                other = await connect(dsn)
                await other.execute("SELECT 1")
        async def g(engine):
            async with engine.connect() as c:
                raw = await c.get_raw_connection()
                await raw.driver_connection.execute("SELECT 1")
                await raw.run_async(lambda dbapi: dbapi.execute("SELECT 1"))
        """,
    ),
    (
        "DBA002",
        "fstring",
        """
        from sqlalchemy import text
        def q(name):
            return text(f"SELECT * FROM users WHERE name = '{name}'")
        """,
        """
        from sqlalchemy import text
        def q(name):
            return text("SELECT * FROM users WHERE name = :name").bindparams(name=name)
        """,
    ),
    (
        "DBA002",
        "percent-format-concat",
        """
        import sqlalchemy as sa
        def q(a, b, c):
            one = sa.text("SELECT * FROM t WHERE a = '%s'" % a)
            two = sa.text("SELECT * FROM t WHERE b = '{}'".format(b))
            three = sa.text("SELECT * FROM t WHERE c = " + c)
            return one, two, three
        """,
        """
        import sqlalchemy as sa
        SQL = "SELECT * FROM t"
        def q():
            return sa.text(SQL + " WHERE a = :a"), sa.text("SELECT %d" % 1), sa.text("SELECT {}".format("1"))
        """,
    ),
    (
        "DBA002",
        "built-in-a-variable",
        """
        from sqlalchemy import text
        async def q(session, name, status):
            sql = "SELECT * FROM users WHERE 1 = 1"
            sql += f" AND name = '{name}'"
            return await session.execute(text(sql))
        """,
        """
        from sqlalchemy import text
        ORDER = {"new": "created_at DESC", "name": "name"}
        async def q(session, ids, sort, table):
            order_by = ORDER[sort]
            marks = ", ".join(f":id{i}" for i in range(len(ids)))
            sql = f"SELECT * FROM users WHERE id IN ({marks}) ORDER BY {order_by} LIMIT {int(10):d}"
            return await session.execute(text(sql), {f"id{i}": v for i, v in enumerate(ids)})
        """,
    ),
    (
        "DBA002",
        "exec-driver-sql",
        """
        async def q(conn, tenant, note):
            await conn.exec_driver_sql(f"SET app.tenant = '{tenant}'")
            await conn.exec_driver_sql(f"COMMENT ON TABLE t IS '{note}'")
        """,
        """
        from alembic import op
        import sqlalchemy as sa
        async def provision(conn, name, template):
            # identifiers cannot be bound parameters: DDL with unquoted names is not flagged
            await conn.exec_driver_sql(f"TRUNCATE {name}")
            await conn.exec_driver_sql("CREATE DATABASE %s TEMPLATE %s" % (name, template))
            await conn.execute(sa.text("DROP DATABASE IF EXISTS {}".format(name)))
        def upgrade():
            with op.get_context().autocommit_block():
                for value in ("a", "b"):
                    op.execute(sa.text(f"ALTER TYPE status ADD VALUE IF NOT EXISTS '{value}'"))
        """,
    ),
    (
        "DBA003",
        "datetime-call",
        """
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        created = sa.Column(sa.DateTime())
        updated = sa.Column(postgresql.TIMESTAMP(timezone=False))
        """,
        """
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        created = sa.Column(sa.DateTime(timezone=True))
        updated = sa.Column(postgresql.TIMESTAMP(True))
        when = sa.Column(sa.DateTime(timezone=settings.tz))
        """,
    ),
    (
        "DBA003",
        "bare-class",
        """
        from sqlalchemy import DateTime
        from sqlalchemy.orm import mapped_column
        class A:
            at = mapped_column(DateTime, nullable=False)
        """,
        """
        from sqlalchemy import DateTime
        from sqlalchemy.orm import mapped_column
        class A:
            at = mapped_column(DateTime(timezone=True), nullable=False)
        ok = isinstance(A, DateTime)
        """,
    ),
    (
        "DBA003",
        "mapped-datetime",
        """
        from datetime import datetime
        from sqlalchemy import ForeignKey, func
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
        class Base(DeclarativeBase):
            pass
        class A(Base):
            __tablename__ = "a"
            at: Mapped[datetime | None] = mapped_column(server_default=func.now())
        """,
        """
        import datetime as dt
        from sqlalchemy import DateTime, func
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
        class Base(DeclarativeBase):
            type_annotation_map = {dt.datetime: DateTime(timezone=True)}
        class A(Base):
            __tablename__ = "a"
            at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
            day: Mapped[dt.date]
        """,
    ),
    (
        "DBA004",
        "missing-lazy",
        """
        from sqlalchemy.ext.asyncio import AsyncAttrs
        from sqlalchemy.orm import Mapped, relationship
        class A:
            children: Mapped[list["B"]] = relationship(back_populates="parent")
        """,
        """
        from sqlalchemy.ext.asyncio import AsyncAttrs
        from sqlalchemy.orm import Mapped, WriteOnlyMapped, relationship
        class A:
            children: Mapped[list["B"]] = relationship(back_populates="parent", lazy="raise")
            events: WriteOnlyMapped["E"] = relationship()
        """,
    ),
    (
        "DBA004",
        "dynamic-and-sqlmodel",
        """
        from sqlmodel import Relationship, SQLModel
        from sqlalchemy.orm import relationship
        from sqlalchemy.ext.asyncio import AsyncSession
        class A(SQLModel, table=True):
            heroes: list["H"] = Relationship(back_populates="team")
            items = relationship("I", lazy="dynamic")
        """,
        """
        from sqlmodel import Relationship, SQLModel
        from sqlalchemy.ext.asyncio import AsyncSession
        class A(SQLModel, table=True):
            heroes: list["H"] = Relationship(back_populates="team", sa_relationship_kwargs={"lazy": "raise"})
        """,
    ),
    (
        "DBA005",
        "sessionmaker",
        ASYNC + "factory = async_sessionmaker(create_async_engine('postgresql+asyncpg://h/db'))\n",
        ASYNC + "factory = async_sessionmaker(create_async_engine(URL), expire_on_commit=False)\n",
    ),
    (
        "DBA005",
        "session",
        ASYNC + "async def f(engine):\n    async with AsyncSession(engine) as s:\n        pass\n",
        ASYNC
        + "async def f(engine, **kw):\n    async with AsyncSession(engine, expire_on_commit=False) as s:\n"
        + "        return AsyncSession(engine, **kw)\n",
    ),
    (
        "DBA006",
        "class-kwarg",
        ASYNC + "from sqlalchemy.orm import sessionmaker\nS = sessionmaker(engine, class_=AsyncSession)\n",
        "from sqlalchemy.orm import sessionmaker\nS = sessionmaker(engine, expire_on_commit=False)\n",
    ),
    (
        "DBA007",
        "query",
        """
        from sqlalchemy.orm import Session
        def f(session: Session):
            return session.query(User).filter(User.id == 1).all()
        """,
        """
        import pandas as pd
        from sqlalchemy import select
        def f(session, df: pd.DataFrame):
            df.query("a > 1")
            return session.scalars(select(User)).all()
        """,
    ),
    (
        "DBA008",
        "declarative-base",
        "from sqlalchemy.orm import declarative_base\nBase = declarative_base()\n",
        "from sqlalchemy.orm import DeclarativeBase\nclass Base(DeclarativeBase):\n    pass\n",
    ),
    (
        "DBA009",
        "backref",
        """
        from sqlalchemy.orm import relationship, backref
        class A:
            b = relationship("B", backref="a", lazy="raise")
            c = relationship("C", backref=backref("a", lazy="raise"), lazy="raise")
        """,
        """
        from sqlalchemy.orm import relationship
        class A:
            b = relationship("B", back_populates="a", lazy="raise")
        """,
    ),
    (
        "DBA010",
        "orm-mode",
        """
        from pydantic import BaseModel, ConfigDict
        class A(BaseModel):
            model_config = ConfigDict(orm_mode=True)
        class B(BaseModel):
            model_config = {"orm_mode": True}
        """,
        """
        from pydantic import BaseModel, ConfigDict
        class A(BaseModel):
            model_config = ConfigDict(from_attributes=True)
        """,
    ),
    (
        "DBA011",
        "class-config",
        """
        from pydantic_settings import BaseSettings
        class Settings(BaseSettings):
            url: str
            class Config:
                env_file = ".env"
        class Derived(Settings):
            class Config:
                env_prefix = "X_"
        """,
        """
        from pydantic_settings import BaseSettings, SettingsConfigDict
        class Settings(BaseSettings):
            model_config = SettingsConfigDict(env_file=".env")
        class NotPydantic:
            class Config:
                debug = True
        """,
    ),
    (
        "DBA012",
        "dict-json",
        """
        from pydantic import BaseModel
        class Item(BaseModel):
            name: str
        def f(item: Item | None, data):
            Item(name="x").json()
            other = Item.model_validate(data)
            other.dict()
            data.dict(exclude_unset=True)
            return item.dict()
        """,
        """
        import httpx
        from pydantic import BaseModel
        class Item(BaseModel):
            name: str
        def f(item: Item, response: httpx.Response, row: dict):
            response.json()
            row.copy()
            return item.model_dump(exclude_unset=True), item.model_dump_json()
        """,
    ),
    (
        "DBA012",
        "class-methods",
        """
        from pydantic import BaseModel, parse_obj_as
        class Item(BaseModel):
            name: str
        def f(obj, raw):
            parse_obj_as(list[Item], raw)
            Item.parse_raw(raw)
            item = Item.from_orm(obj)
            return item.copy(update={"name": "y"})
        """,
        """
        from pydantic import BaseModel, TypeAdapter
        class Item(BaseModel):
            name: str
        def f(obj, raw):
            TypeAdapter(list[Item]).validate_json(raw)
            item = Item.model_validate(obj)
            return item.model_copy(update={"name": "y"})
        """,
    ),
    (
        "DBA013",
        "validators",
        """
        from pydantic import BaseModel, root_validator, validator
        class A(BaseModel):
            x: int
            @validator("x")
            def check(cls, v):
                return v
            @root_validator(pre=True)
            def whole(cls, values):
                return values
        """,
        """
        from pydantic import BaseModel, field_validator, model_validator
        from pydantic.v1 import validator as v1_validator
        class A(BaseModel):
            x: int
            @field_validator("x")
            @classmethod
            def check(cls, v):
                return v
            @model_validator(mode="after")
            def whole(self):
                return self
        """,
    ),
    (
        "DBA014",
        "enum-call",
        """
        import enum
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        class Status(enum.Enum):
            ACTIVE = "active"
        col = sa.Column(sa.Enum(Status, name="status"))
        other = sa.Column(postgresql.ENUM(Status, name="status", create_type=False))
        """,
        """
        import enum
        import sqlalchemy as sa
        class Status(enum.Enum):
            ACTIVE = "active"
        class Color(enum.StrEnum):
            red = "red"
        col = sa.Column(sa.Enum(Status, name="status", values_callable=lambda e: [m.value for m in e]))
        labels = sa.Column(sa.Enum("active", "blocked", name="status"))
        same = sa.Column(sa.Enum(Color, name="color"))
        py_enum = enum.Enum("Dyn", "A B")
        """,
    ),
    (
        "DBA014",
        "mapped-enum",
        """
        import enum
        from sqlalchemy.orm import Mapped
        class Status(enum.StrEnum):
            ACTIVE = "active"
        class A:
            status: Mapped[Status]
        """,
        """
        import enum
        from sqlalchemy import Enum
        from sqlalchemy.orm import DeclarativeBase, Mapped
        class Status(enum.StrEnum):
            ACTIVE = "active"
        class Base(DeclarativeBase):
            type_annotation_map = {enum.Enum: Enum(enum.Enum, values_callable=lambda e: [m.value for m in e])}
        class A(Base):
            status: Mapped[Status]
        """,
    ),
    (
        "DBA015",
        "concurrently",
        """
        from alembic import op
        def upgrade():
            op.execute("CREATE INDEX CONCURRENTLY ix_a ON a (b)")
            op.create_index("ix_c", "a", ["c"], postgresql_concurrently=True)
        """,
        """
        from alembic import op
        def _indexes():
            op.create_index("ix_c", "a", ["c"], postgresql_concurrently=True)
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("CREATE INDEX CONCURRENTLY ix_a ON a (b)")
                _indexes()
            op.create_index("ix_d", "a", ["d"])
            op.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY mv")
        """,
    ),
    (
        "DBA016",
        "add-value",
        """
        import sqlalchemy as sa
        from alembic import op
        def upgrade():
            op.get_bind().execute(sa.text("ALTER TYPE status ADD VALUE 'archived'"))
        """,
        """
        from alembic import op
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived'")
        """,
    ),
    (
        "DBA017",
        "create-all",
        ASYNC + "async def init(engine, Base):\n    async with engine.begin() as c:\n"
        "        await c.run_sync(Base.metadata.create_all)\n",
        "from sqlalchemy import MetaData\nmetadata = MetaData()\nmetadata.drop_all  # noqa: B018\n",
    ),
    (
        "DBA018",
        "bare-url",
        """
        from pydantic_settings import BaseSettings
        class Settings(BaseSettings):
            database_url: str = "postgresql://app@localhost/app"
        heroku = f"postgres://{user}:{password}@{host}/db"
        env_default = os.getenv("DATABASE_URL", "postgresql://app@localhost/app")
        """,
        """
        import asyncpg
        import subprocess
        import sqlalchemy
        DSN = "postgresql://app@localhost/app"
        async def f(url: str):
            await asyncpg.connect(DSN)
            subprocess.run(["psql", "postgresql://app@localhost/app"])
            url = url.replace("postgres://", "postgresql+asyncpg://", 1)
            return url.startswith("postgresql://"), "postgresql+asyncpg://app@localhost/app"
        """,
    ),
    (
        "DBA018",
        "url-create",
        'from sqlalchemy import URL\nu = URL.create("postgresql", host="h")\n',
        'from sqlalchemy import URL\nu = URL.create("postgresql+asyncpg", host="h")\n',
    ),
    (
        "DBA019",
        "sslmode",
        ASYNC + 'e = create_async_engine("postgresql+asyncpg://h/db?sslmode=require")\n'
        'f = create_async_engine(URL, connect_args={"sslmode": "require"})\n',
        ASYNC + 'e = create_async_engine("postgresql+asyncpg://h/db?ssl=require")\n'
        'f = create_async_engine(URL, connect_args={"ssl": "require"})\n'
        'from sqlalchemy import create_engine\ng = create_engine("postgresql+psycopg://h/db?sslmode=require")\n',
    ),
    (
        "DBA020",
        "gather",
        """
        import asyncio
        from sqlalchemy.ext.asyncio import AsyncSession
        async def f(session: AsyncSession, ids):
            await asyncio.gather(session.get(User, 1), session.get(User, 2))
            await asyncio.gather(*(load(session, i) for i in ids))
        """,
        """
        import asyncio
        import aiohttp
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
        factory = async_sessionmaker(engine, expire_on_commit=False)
        async def one(i):
            async with factory() as session:
                return await session.get(User, i)
        async def f(session: AsyncSession, ids):
            await asyncio.gather(one(1), one(2), work(factory), work(factory))
            async with aiohttp.ClientSession() as http:
                await asyncio.gather(http.get("a"), http.get("b"))
            await session.get(User, 1)
        """,
    ),
    (
        "DBA021",
        "utcnow",
        """
        import datetime
        from sqlalchemy.orm import mapped_column
        created = mapped_column(default=datetime.datetime.utcnow)
        stamp = datetime.datetime.utcfromtimestamp(0)
        """,
        """
        from datetime import UTC, datetime
        from sqlalchemy.orm import mapped_column
        created = mapped_column(default=lambda: datetime.now(UTC))
        class Clock:
            def utcnow(self): ...
        Clock().utcnow()
        """,
    ),
    (
        "DBA022",
        "engine-per-request",
        """
        from fastapi import APIRouter
        from sqlalchemy.ext.asyncio import create_async_engine
        router = APIRouter()
        @router.get("/")
        async def index():
            engine = create_async_engine("postgresql+asyncpg://h/db")
            await engine.dispose()
        """,
        """
        from contextlib import asynccontextmanager
        from sqlalchemy.ext.asyncio import create_async_engine
        @asynccontextmanager
        async def lifespan(app):
            app.state.engine = create_async_engine("postgresql+asyncpg://h/db")
            yield
            await app.state.engine.dispose()
        """,
    ),
]


BAD = {f"{rule}-{name}": bad for rule, name, bad, _ in CASES}


@pytest.mark.parametrize(
    ("rule", "bad"), [(c[0], c[2]) for c in CASES], ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_rule_flags_the_bad_source(rule: str, bad: str) -> None:
    assert rule in rules(bad)


@pytest.mark.parametrize(
    ("rule", "good"), [(c[0], c[3]) for c in CASES], ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_rule_passes_the_near_miss(rule: str, good: str) -> None:
    assert rules(good) == []


def test_every_rule_has_a_case() -> None:
    covered = {case[0] for case in CASES} | {"DBA000"}
    assert covered == {rule.id for rule in RULES}


def test_rule_ids_and_names_are_unique_and_complete() -> None:
    ids = [rule.id for rule in RULES]
    names = [rule.name for rule in RULES]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    assert all(rule.summary and rule.fix and "\n" not in rule.fix for rule in RULES)


# --- details of individual rules --------------------------------------------------------------


def test_flagged_counts_for_multi_instance_cases() -> None:
    assert rules(BAD["DBA001-literal"]).count("DBA001") == 2
    assert rules(BAD["DBA002-percent-format-concat"]).count("DBA002") == 3  # %, .format and +
    assert rules(BAD["DBA002-exec-driver-sql"]).count("DBA002") == 2  # values inside quotes, even in DDL
    assert rules(BAD["DBA003-datetime-call"]).count("DBA003") == 2
    assert rules(BAD["DBA009-backref"]).count("DBA009") == 2  # backref= and backref()


def test_async_context_is_project_wide_and_can_be_forced() -> None:
    models = "from sqlalchemy.orm import relationship\nclass A:\n    b = relationship('B')\n"
    assert rules(models) == []  # a sync module alone
    assert rules(models, async_context=True) == ["DBA004"]
    project = project_facts([models, "from sqlalchemy.ext.asyncio import create_async_engine\n"])
    assert rules(models, project=project) == ["DBA004"]
    assert rules(ASYNC + models, async_context=False) == []


def test_url_rule_counts() -> None:
    assert rules(BAD["DBA018-bare-url"]).count("DBA018") == 3


def test_create_all_is_allowed_in_tests() -> None:
    code = "from sqlalchemy import MetaData\nMetaData().create_all(engine)\n"
    assert rules(code, "app/db.py") == ["DBA017"]
    for path in ("tests/helpers.py", "conftest.py", "app/test_db.py", "app/db_test.py"):
        assert rules(code, path) == [], path
    assert rules("import pytest\n" + code, "app/db.py") == []


def test_code_expected_to_raise_is_exempt() -> None:
    code = """
    import pytest
    from sqlalchemy.exc import ArgumentError
    async def test_plain_string(session):
        with pytest.raises(ArgumentError):
            await session.execute("SELECT 1")
        await session.execute("SELECT 2")
    """
    assert [(f.rule, f.line) for f in audit(code)] == [("DBA001", 7)]


def test_migration_recognised_by_path() -> None:
    code = "def upgrade(op):\n    op.execute('CREATE INDEX CONCURRENTLY ix ON t (c)')\n"
    assert rules(code, "alembic/versions/0001_x.py") == ["DBA015"]
    assert rules(code, "app/jobs.py") == []


def test_relationship_with_explicit_select_is_accepted() -> None:
    code = ASYNC + "from sqlalchemy.orm import relationship\nb = relationship('B', lazy='select')\n"
    assert rules(code) == []


def test_dba002_reports_where_the_string_was_built() -> None:
    (finding,) = audit(BAD["DBA002-built-in-a-variable"])
    assert finding.line == 6 and "built from values at line 5" in finding.message


def test_expire_on_commit_true_is_a_deliberate_choice() -> None:
    assert rules(ASYNC + "f = async_sessionmaker(engine, expire_on_commit=True)\n") == []


# --- suppression, positions, syntax errors --------------------------------------------------


def test_noqa_with_the_rule_id_suppresses() -> None:
    code = "from sqlalchemy.orm import declarative_base\nBase = declarative_base()  # noqa: DBA008\n"
    assert rules(code) == []
    code = "from sqlalchemy.orm import declarative_base\nBase = declarative_base()  # noqa: E501,DBA008\n"
    assert rules(code) == []


def test_bare_noqa_or_other_codes_do_not_suppress() -> None:
    for comment in ("# noqa", "# noqa: E501", "# noqa: DBA003"):
        code = f"from sqlalchemy.orm import declarative_base\nBase = declarative_base()  {comment}\n"
        assert rules(code) == ["DBA008"], comment
    code = 'from sqlalchemy.orm import declarative_base\nBase = declarative_base(); x = "# noqa: DBA008"\n'
    assert rules(code) == ["DBA008"]


def test_noqa_on_any_line_of_a_multiline_expression() -> None:
    code = """
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import relationship
    a = relationship(
        "A",
    )  # noqa: DBA004
    b = relationship(
        "B",
    )
    """
    assert [(f.rule, f.line) for f in audit(code)] == [("DBA004", 7)]


def test_noqa_parser() -> None:
    assert noqa_codes("x = 1  # noqa: DBA001, dba002 E501\ny = 2  # noqa\n") == {
        1: {"DBA001", "DBA002", "E501"}
    }


def test_positions_are_one_based_and_shifted() -> None:
    code = "from sqlalchemy.orm import declarative_base\nBase = declarative_base()\n"
    (finding,) = audit_source(code, "doc.md", line_offset=10, col_offset=2)
    assert (finding.path, finding.line, finding.col) == ("doc.md", 12, 10)


def test_syntax_error_is_a_finding() -> None:
    (finding,) = audit_source("def f(:\n    pass\n", "broken.py", line_offset=4)
    assert finding.rule == "DBA000" and finding.line == 5 and "cannot parse" in finding.message
    assert audit_source("x = 1\0\n", "nul.py")[0].rule == "DBA000"  # a NUL byte


def test_findings_are_sorted() -> None:
    code = """
    from sqlalchemy.orm import declarative_base, relationship
    b = relationship("B", backref="a")
    Base = declarative_base()
    """
    found = audit(code, async_context=True)
    assert found == sorted(found, key=Finding.sort_key)
    assert [f.rule for f in found] == ["DBA004", "DBA009", "DBA008"]


# --- Markdown -------------------------------------------------------------------------------

MARKDOWN = """\
# Title

```python
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
engine = create_async_engine("postgresql+asyncpg://h/db")
factory = async_sessionmaker(engine)
```

```python raises=ArgumentError
await session.execute("SELECT 1")
```

1. A list item

   ```python continue
   other = async_sessionmaker(engine)
   ```

````markdown
```python
ignored = async_sessionmaker(engine)
```
````

```python file=alembic/versions/0002_idx.py
from alembic import op
def upgrade():
    op.execute("CREATE INDEX CONCURRENTLY ix ON t (c)")
```

```python
def broken(:
```
"""


def test_markdown_blocks_report_markdown_lines() -> None:
    found = [(f.rule, f.line, f.col) for f in audit_markdown(MARKDOWN, "doc.md")]
    assert found == [("DBA005", 6, 11), ("DBA005", 16, 12), ("DBA015", 28, 5), ("DBA000", 32, 12)]


@dataclass
class FakeBlock:  # the shape of the validator's skillproof.models.Block
    language: str
    code: str
    code_line: int
    flags: dict = field(default_factory=dict)


def test_audit_blocks_takes_the_validators_blocks() -> None:
    blocks = [
        FakeBlock("python", "from sqlalchemy.orm import declarative_base\nBase = declarative_base()\n", 3),
        FakeBlock("python", "Base = declarative_base()\n", 10, {"raises": "X"}),
        FakeBlock("bash", "Base = declarative_base()\n", 20),
        FakeBlock("python", "def upgrade(op):\n    op.execute('CREATE INDEX CONCURRENTLY i ON t (c)')\n", 30),
        FakeBlock("python", "def upgrade(op):\n    op.execute('CREATE INDEX CONCURRENTLY i ON t (c)')\n", 40),
    ]
    blocks[3].flags = {"mirror": "examples/alembic/versions/0002_x.py"}
    found = [(f.rule, f.line) for f in audit_blocks(blocks, "doc.md")]
    assert found == [("DBA008", 4), ("DBA015", 31)]


def test_snippets_share_imports() -> None:
    first = Snippet("from sqlalchemy.orm import declarative_base\n", 0)
    second = Snippet("Base = declarative_base()\n", 10)
    assert [(f.rule, f.line) for f in audit_snippets([first, second], "doc.md")] == [("DBA008", 11)]


# --- fixture projects -----------------------------------------------------------------------

BAD_EXPECTED = [
    ("alembic/versions/0002_bad.py", 8, "DBA015"),
    ("alembic/versions/0002_bad.py", 9, "DBA016"),
    ("app/api.py", 8, "DBA022"),
    ("app/broken.py", 1, "DBA000"),
    ("app/db.py", 4, "DBA018"),
    ("app/db.py", 5, "DBA008"),
    ("app/db.py", 7, "DBA019"),
    ("app/db.py", 9, "DBA005"),
    ("app/db.py", 10, "DBA006"),
    ("app/db.py", 15, "DBA017"),
    ("app/models.py", 19, "DBA014"),
    ("app/models.py", 20, "DBA003"),
    ("app/models.py", 20, "DBA021"),
    ("app/models.py", 21, "DBA004"),
    ("app/models.py", 30, "DBA009"),
    ("app/queries.py", 10, "DBA001"),
    ("app/queries.py", 11, "DBA002"),
    ("app/queries.py", 12, "DBA007"),
    ("app/queries.py", 13, "DBA020"),
    ("app/schemas.py", 8, "DBA011"),
    ("app/schemas.py", 9, "DBA010"),
    ("app/schemas.py", 11, "DBA013"),
    ("app/schemas.py", 18, "DBA012"),
    ("notes.md", 7, "DBA005"),
    ("notes.md", 19, "DBA005"),
]


def _relative(findings: list[Finding], root: Path) -> list[tuple[str, int, str]]:
    return [(Path(f.path).relative_to(root).as_posix(), f.line, f.rule) for f in findings]


def test_bad_fixture_has_exactly_the_expected_findings() -> None:
    root = FIXTURES / "bad"
    assert _relative(audit_paths([root]), root) == BAD_EXPECTED
    assert {rule for _, _, rule in BAD_EXPECTED} == {rule.id for rule in RULES}


def test_clean_fixture_has_no_findings() -> None:
    assert audit_paths([FIXTURES / "clean"]) == []


def test_examples_project_has_no_findings() -> None:
    examples = ROOT / "examples"
    if not (examples / "app").is_dir():
        pytest.skip("examples/app is not there yet")
    assert [f.format_text() for f in audit_paths([examples])] == []


# --- command line ---------------------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_text_output_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, str(FIXTURES / "bad"))
    lines = out.splitlines()
    assert code == 1 and err == ""
    assert lines[-1] == f"Found {len(BAD_EXPECTED)} findings in 8 files (9 files audited)."
    assert lines[0].endswith("0002_bad.py:8:5: " + lines[0].split(": ", 1)[1]) and " DBA015 " in lines[0]
    assert " Fix: " in lines[0]
    code, out, _ = run_main(capsys, str(FIXTURES / "clean"))
    assert code == 0 and out.splitlines()[-1].startswith("No findings (")


def test_cli_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--format", "json", str(FIXTURES / "bad"))
    document = json.loads(out)
    assert code == 1 and document["version"] == 1
    first = document["findings"][0]
    assert list(first) == ["rule", "name", "path", "line", "col", "message", "fix"]
    assert first["rule"] == "DBA015" and first["name"] == "concurrent-index-in-transaction"
    assert document["summary"]["findings"] == len(BAD_EXPECTED) == len(document["findings"])
    assert document["summary"]["files"] == 9 and document["summary"]["by_rule"]["DBA005"] == 3


def test_cli_select_and_ignore(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(FIXTURES / "bad")
    _, out, _ = run_main(capsys, "--format", "json", "--select", "DBA005,naive-datetime", bad)
    assert sorted({f["rule"] for f in json.loads(out)["findings"]}) == ["DBA000", "DBA003", "DBA005"]
    _, out, _ = run_main(capsys, "--format", "json", "--select", "DBA01", "--ignore", "DBA000,DBA013", bad)
    assert {f["rule"] for f in json.loads(out)["findings"]} == {f"DBA01{i}" for i in range(10) if i != 3}
    code, out, _ = run_main(capsys, "--ignore", "ALL", bad)
    assert code == 0 and out.startswith("No findings")


def test_cli_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_main(capsys, str(tmp_path / "missing.py"))
    assert (code, out) == (2, "") and err == f"audit: error: no such file: {tmp_path / 'missing.py'}\n"
    for argv in (["--bogus", "."], ["--select", "DBA999", "."], [], ["--format", "xml", "."]):
        code, out, err = run_main(capsys, *argv)
        assert code == 2 and out == "" and err.startswith("audit: error: ") and err.count("\n") == 1, argv


def test_cli_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--list-rules")
    assert code == 0 and all(f"{rule.id}  {rule.name}" in out for rule in RULES)
    code, out, _ = run_main(capsys, "--list-rules", "--format", "json")
    assert [rule["id"] for rule in json.loads(out)] == [rule.id for rule in RULES]


def test_cli_help_documents_rules_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "exit status" in out and "# noqa: DBA003" in out
    assert all(rule.id in out for rule in RULES)


def test_cli_skips_virtualenvs_and_hidden_dirs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = "from sqlalchemy.orm import declarative_base\nBase = declarative_base()\n"
    for folder in (".venv/lib", "node_modules/x", "env/lib", "__pycache__", "pkg.egg-info"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.py").write_text(bad)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n")
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00x")
    code, out, _ = run_main(capsys, str(tmp_path))
    assert code == 1 and "DBA008" not in out
    assert out.count("DBA000") == 1 and "binary.py:1:1: DBA000 cannot read" in out
    assert out.splitlines()[-1] == "Found 1 finding in 1 file (3 files audited)."


def test_script_runs_from_any_directory_without_installation(tmp_path: Path) -> None:
    target = tmp_path / "db.py"
    target.write_text('URL = "postgresql://app@localhost/app"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    result = subprocess.run(
        [sys.executable, "-S", str(AUDIT), "db.py"],  # -S: no site-packages, so no installed skillproof
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("db.py:1:7: DBA018 ")
    assert result.stderr == ""
