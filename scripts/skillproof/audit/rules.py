"""The audit's rules and its finding record.

Rule ids are stable: a rule may be refined, but an id is never reused for another check.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    id: str  # e.g. "DBA003"
    name: str  # short kebab-case name, usable with --select/--ignore
    summary: str  # what it flags, one line
    fix: str  # the fix, one line


@dataclass(frozen=True)
class Finding:
    """One problem at one place. `line` and `col` are 1-based (col counts characters)."""

    rule: str
    path: str
    line: int
    col: int
    message: str
    fix: str
    # Last line of the flagged expression: a noqa comment on any line from `line` to here counts.
    end_line: int = field(default=0, compare=False, repr=False)

    @property
    def name(self) -> str:
        rule = RULES_BY_ID.get(self.rule)
        return rule.name if rule else ""

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.col, self.rule)

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "fix": self.fix,
        }

    def format_text(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.rule} {self.message}. Fix: {self.fix}"


RULES: tuple[Rule, ...] = (
    Rule(
        "DBA000",
        "syntax-error",
        "a file or code block that cannot be read or parsed, so it was not audited",
        "make the code parse (python -m py_compile FILE) and run the audit again",
    ),
    Rule(
        "DBA001",
        "execute-plain-string",
        "execute()/scalar()/scalars()/stream() on a session or connection called with a plain SQL string",
        'wrap it in text() with bound parameters: session.execute(text("... WHERE id = :id"), {"id": v})',
    ),
    Rule(
        "DBA002",
        "sql-string-building",
        "SQL built with an f-string, %, .format() or + inside text() or exec_driver_sql() (SQL injection)",
        'keep the SQL constant and pass values as bound parameters: text("... WHERE x = :x"), {"x": v}',
    ),
    Rule(
        "DBA003",
        "naive-datetime",
        "DateTime/TIMESTAMP column without timezone=True, or Mapped[datetime] with no explicit type",
        "use DateTime(timezone=True) (TIMESTAMPTZ), or map datetime to it in Base.type_annotation_map",
    ),
    Rule(
        "DBA004",
        "relationship-lazy",
        "relationship() without an explicit lazy= loading strategy in async code (or lazy='dynamic')",
        'relationship(..., lazy="raise") and load per query with selectinload()/joinedload()',
    ),
    Rule(
        "DBA005",
        "expire-on-commit",
        "async_sessionmaker()/AsyncSession() without expire_on_commit=False",
        "async_sessionmaker(engine, expire_on_commit=False)",
    ),
    Rule(
        "DBA006",
        "legacy-async-sessionmaker",
        "sessionmaker(..., class_=AsyncSession) instead of async_sessionmaker",
        "async_sessionmaker(engine, expire_on_commit=False)",
    ),
    Rule(
        "DBA007",
        "legacy-query",
        "session.query(...), the legacy Query API (AsyncSession has no .query)",
        "(await session.scalars(select(Model).where(...))).all(), or await session.get(Model, pk)",
    ),
    Rule(
        "DBA008",
        "declarative-base",
        "declarative_base() / @as_declarative, the legacy declarative base",
        "class Base(AsyncAttrs, DeclarativeBase): ... with Mapped[] / mapped_column()",
    ),
    Rule(
        "DBA009",
        "relationship-backref",
        "relationship(..., backref=...) / backref(): an implicit reverse side, invisible to type checkers",
        'declare both sides with back_populates="..."',
    ),
    Rule(
        "DBA010",
        "pydantic-orm-mode",
        "Pydantic v1 orm_mode (in class Config, ConfigDict or a model_config dict)",
        "model_config = ConfigDict(from_attributes=True)",
    ),
    Rule(
        "DBA011",
        "pydantic-class-config",
        "class Config: inside a Pydantic model or settings class (Pydantic v1 style)",
        "model_config = ConfigDict(...) (SettingsConfigDict(...) for BaseSettings)",
    ),
    Rule(
        "DBA012",
        "pydantic-v1-method",
        "Pydantic v1 methods: .dict(), .json(), .from_orm(), .parse_obj(), .parse_raw(), .copy(update=), "
        "parse_obj_as()",
        "model_dump(), model_dump_json(), model_validate(), model_validate_json(), model_copy(), TypeAdapter",
    ),
    Rule(
        "DBA013",
        "pydantic-v1-validator",
        "@validator / @root_validator from pydantic (v1 API)",
        "@field_validator(...) / @model_validator(mode=...)",
    ),
    Rule(
        "DBA014",
        "enum-stores-names",
        "Enum(PyEnum) / ENUM(PyEnum) or Mapped[PyEnum] without values_callable: PostgreSQL gets member NAMES",
        'Enum(MyEnum, name="my_enum", values_callable=lambda e: [m.value for m in e])',
    ),
    Rule(
        "DBA015",
        "concurrent-index-in-transaction",
        "CREATE/DROP INDEX CONCURRENTLY in a migration outside an autocommit block",
        "put it inside: with op.get_context().autocommit_block(): ...",
    ),
    Rule(
        "DBA016",
        "enum-add-value-in-transaction",
        "ALTER TYPE ... ADD VALUE in a migration outside an autocommit block",
        "put it inside: with op.get_context().autocommit_block(): ... and use the value in a later migration",
    ),
    Rule(
        "DBA017",
        "create-all-in-app",
        "metadata.create_all() in application code (Alembic should own the schema)",
        "let Alembic migrations own the schema (alembic upgrade head); use create_all only in tests",
    ),
    Rule(
        "DBA018",
        "url-without-driver",
        "postgresql:// or postgres:// URL without an explicit driver (SQLAlchemy 2.1 picks psycopg 3)",
        "name the driver: postgresql+asyncpg://... (or +psycopg / +psycopg2 for sync tools)",
    ),
    Rule(
        "DBA019",
        "asyncpg-sslmode",
        "sslmode= in a postgresql+asyncpg URL or in its connect_args (asyncpg takes ssl=)",
        'use ?ssl=require in the URL, or connect_args={"ssl": ...}',
    ),
    Rule(
        "DBA020",
        "gather-shared-session",
        "asyncio.gather() over several operations on one session (an AsyncSession is not concurrency-safe)",
        "give each task its own session from the sessionmaker, or run the operations one after another",
    ),
    Rule(
        "DBA021",
        "datetime-utcnow",
        "datetime.utcnow() / utcfromtimestamp(): naive values, deprecated since Python 3.12",
        "datetime.now(UTC) / datetime.fromtimestamp(ts, UTC), or server_default=func.now()",
    ),
    Rule(
        "DBA022",
        "engine-per-request",
        "create_async_engine()/create_engine() inside a route handler or a Depends() dependency",
        "create one engine at startup (module level or lifespan), reuse it, and dispose it at shutdown",
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
SYNTAX_ERROR = "DBA000"


def resolve_rule_selector(token: str) -> set[str]:
    """Rule ids for one --select/--ignore token: an id, an id prefix ("DBA01"), a name, or ALL.

    Raises ValueError for a token that names no rule.
    """
    token = token.strip()
    if not token:
        return set()
    if token.upper() == "ALL":
        return set(RULES_BY_ID)
    if token.lower() in RULES_BY_NAME:
        return {RULES_BY_NAME[token.lower()].id}
    upper = token.upper()
    matched = {rule_id for rule_id in RULES_BY_ID if rule_id.startswith(upper)}
    if upper.startswith("DBA") and matched:
        return matched
    raise ValueError(token)
