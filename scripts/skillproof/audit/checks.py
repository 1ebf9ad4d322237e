"""The AST walk that applies every rule to one module (or one Markdown code block)."""

from __future__ import annotations

import ast
import re
import sys

from .context import (
    DRIVER_RE,
    PYDANTIC_ROOTS,
    SA_ROOTS,
    Evaluator,
    ModuleFacts,
    ProjectFacts,
    Scope,
    call_name,
    dotted,
    has_star_kwargs,
    is_from,
    is_test_path,
    is_versions_path,
    keyword,
    qualified_name,
    terminal_name,
)
from .rules import RULES_BY_ID, Finding

EXECUTE_METHODS = frozenset({"execute", "scalar", "scalars", "stream", "stream_scalars"})
COLUMN_FUNCS = frozenset({"mapped_column", "Column", "column", "add_column", "alter_column"})
NOT_A_TYPE = frozenset(
    {"ForeignKey", "Sequence", "Identity", "Computed", "FetchedValue", "DefaultClause", "CheckConstraint"}
)
ENGINE_FACTORIES = ("create_async_engine", "create_engine", "async_engine_from_config", "engine_from_config")
ASYNC_ENGINE_FACTORIES = ("create_async_engine", "async_engine_from_config")
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "route", "websocket"}
)
PYDANTIC_CONSTRUCTORS = frozenset(
    {
        "model_validate",
        "model_validate_json",
        "model_construct",
        "parse_obj",
        "parse_raw",
        "from_orm",
        "construct",
    }
)
V1_DUMP_KWARGS = frozenset(
    {"exclude_unset", "exclude_none", "exclude_defaults", "by_alias", "include", "exclude", "encoder"}
)
V1_METHODS = {
    "dict": ".dict() is Pydantic v1",
    "json": ".json() is Pydantic v1",
    "from_orm": ".from_orm() is Pydantic v1 (v2 raises unless from_attributes is set, and warns)",
    "parse_obj": ".parse_obj() is Pydantic v1",
    "parse_raw": ".parse_raw() is Pydantic v1",
    "parse_file": ".parse_file() is Pydantic v1",
    "copy": ".copy(update=...) is Pydantic v1",
}
V1_FIXES = {
    "dict": "use .model_dump() (same include/exclude/exclude_unset arguments)",
    "json": "use .model_dump_json()",
    "from_orm": "use Model.model_validate(obj) with model_config = ConfigDict(from_attributes=True)",
    "parse_obj": "use Model.model_validate(data)",
    "parse_raw": "use Model.model_validate_json(text)",
    "parse_file": "use Model.model_validate_json(path.read_text())",
    "copy": "use .model_copy(update=...)",
}
SESSION_EXACT = frozenset({"session", "db", "db_session", "dbsession", "sess", "s"})
# Libraries whose classes are not Pydantic models, whatever a project's own models are called.
NON_MODEL_ROOTS = frozenset(
    {"httpx", "requests", "aiohttp", "starlette", "fastapi", "flask", "werkzeug", "django", "litestar"}
    | {"sqlalchemy", "asyncpg", "psycopg", "psycopg2", "urllib3", "boto3", "botocore", "grpc", "yarl"}
)
HTTP_ROOTS = frozenset({"aiohttp", "requests", "httpx", "boto3", "aioboto3", "botocore", "urllib3"})
URL_NO_DRIVER = re.compile(r"^\s*(postgres|postgresql)://\S", re.IGNORECASE)
URL_ASYNCPG_SSLMODE = re.compile(r"^\s*postgresql\+asyncpg://\S*[?&]sslmode=", re.IGNORECASE)
URL_SAFE_CALLS = frozenset(
    {"replace", "startswith", "endswith", "removeprefix", "sub", "split", "partition", "match", "search"}
)
DRIVER_CALL_ROOTS = frozenset({"asyncpg", "psycopg", "psycopg2", "subprocess", "aiopg", "pg8000"})
CONCURRENTLY = re.compile(
    r"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b|\bDROP\s+INDEX\s+CONCURRENTLY\b"
    r"|\bREINDEX\s+(?:\([^)]*\)\s*)?(?:INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\s+CONCURRENTLY\b",
    re.IGNORECASE,
)
ORM_MODE_MESSAGE = "orm_mode is the Pydantic v1 name: v2 only warns and does not enable from_attributes"
ADD_VALUE = re.compile(r"\bALTER\s+TYPE\s+\S+\s+ADD\s+VALUE\b", re.IGNORECASE)


class Checker(ast.NodeVisitor):
    def __init__(
        self,
        facts: ModuleFacts,
        project: ProjectFacts,
        *,
        path: str,
        logical_path: str,
        line_offset: int = 0,
        col_offset: int = 0,
        async_context: bool | None = None,
        aliases: dict[str, str] | None = None,
        stars: tuple[str, ...] | None = None,
        constants: dict[str, ast.expr] | None = None,
    ) -> None:
        self.facts = facts
        self.project = project
        self.path = path
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.aliases = aliases if aliases is not None else facts.aliases
        self.stars = stars if stars is not None else facts.stars
        self.is_async = (
            async_context if async_context is not None else (facts.imports_async or project.is_async)
        )
        self.is_migration = facts.imports_op or is_versions_path(logical_path) or is_versions_path(path)
        self.is_test = is_test_path(logical_path) or facts.imports_test_framework
        self.imports_sa = facts.imports_any(SA_ROOTS | {"flask_sqlalchemy", "alembic"}) or any(
            s.split(".")[0] in SA_ROOTS for s in self.stars
        )
        self.imports_pydantic = facts.imports_any(PYDANTIC_ROOTS)
        self.imports_driver = facts.imports_any(DRIVER_CALL_ROOTS - {"subprocess"})
        self.ev = Evaluator(constants if constants is not None else facts.constants, project.enum_classes)
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, int, int]] = set()
        tree = facts.tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.docstrings: set[ast.AST] = set()
        self.autocommit_funcs: set[str] = set()
        self.driver_funcs: set[str] = set()  # functions annotated to return a driver connection
        self.attribute_sources: dict[str, list[ast.AST]] = {}  # self.X: its annotations and values
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
                if DRIVER_RE.search(ast.unparse(node.returns)):
                    self.driver_funcs.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                self._note_attribute_source(node)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    self.docstrings.add(body[0].value)
            if isinstance(node, ast.With) and self._is_autocommit_with(node):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
                        self.autocommit_funcs.add(inner.func.id)
        self.scope = Scope(tree, None)
        self.module_factories = {
            name
            for name, value in self.ev.constants.items()
            if isinstance(value, ast.Call) and call_name(value) in ("async_sessionmaker", "sessionmaker")
        }
        self.class_stack: list[ast.ClassDef] = []
        self.func_stack: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.annotation_stack: list[ast.expr | None] = []
        self.autocommit_depth = 0

    # --- plumbing --------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        self.visit(self.facts.tree)
        return self.findings

    def report(self, rule: str, node: ast.AST, message: str, fix: str | None = None) -> None:
        line = getattr(node, "lineno", 1) + self.line_offset
        col = getattr(node, "col_offset", 0) + 1 + self.col_offset
        key = (rule, line, col)
        if key in self._seen:
            return
        self._seen.add(key)
        end = line
        if not isinstance(node, ast.stmt):  # an expression: its last line may carry the noqa
            end = (getattr(node, "end_lineno", None) or getattr(node, "lineno", 1)) + self.line_offset
        fix = fix or RULES_BY_ID[rule].fix
        self.findings.append(Finding(rule, self.path, line, col, message, fix, end_line=end))

    def qn(self, node: ast.AST) -> str | None:
        return qualified_name(node, self.aliases, self.stars)

    def _with_scope(self, node: ast.AST) -> None:
        saved = self.scope
        self.scope = Scope(node, saved)
        try:
            self.generic_visit(node)
        finally:
            self.scope = saved

    # --- structure ---------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self._check_validator_decorator(decorator)
        self.func_stack.append(node)
        try:
            self._with_scope(node)
        finally:
            self.func_stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._with_scope(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.name == "Config" and self.class_stack:
            outer = self.class_stack[-1].name
            if outer in self.project.pydantic_classes:
                self.report(
                    "DBA011",
                    node,
                    f"class Config inside Pydantic class {outer} is Pydantic v1 configuration (deprecated)",
                )
        self.class_stack.append(node)
        try:
            self.generic_visit(node)
        finally:
            self.class_stack.pop()

    def _is_autocommit_with(self, node: ast.With | ast.AsyncWith) -> bool:
        return any(
            isinstance(item.context_expr, ast.Call) and call_name(item.context_expr) == "autocommit_block"
            for item in node.items
        )

    def _expects_exception(self, node: ast.With | ast.AsyncWith) -> bool:
        """`with pytest.raises(...)` / `self.assertRaises(...)`: the body fails on purpose."""
        for item in node.items:
            call = item.context_expr
            if not isinstance(call, ast.Call):
                continue
            name = call_name(call)
            if name in ("assertRaises", "assertRaisesRegex"):
                return True
            if name == "raises" and (self.qn(call.func) or "").split(".")[0] == "pytest":
                return True
        return False

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        inside = self._is_autocommit_with(node)
        for item in node.items:
            self.visit(item)
        if self._expects_exception(node):
            return  # a demonstration of the failure, like a raises= block in Markdown
        if inside:
            self.autocommit_depth += 1
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            if inside:
                self.autocommit_depth -= 1

    visit_AsyncWith = visit_With  # noqa: N815

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if self.class_stack and self.parents.get(node) is self.class_stack[-1]:
            self._check_mapped_annotation(node)  # a class attribute, not a local variable
        self.visit(node.target)
        self.visit(node.annotation)
        if node.value is not None:
            self.annotation_stack.append(node.annotation)
            try:
                self.visit(node.value)
            finally:
                self.annotation_stack.pop()
        self._check_config_assign([node.target], node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.annotation_stack.append(None)
        try:
            self.generic_visit(node)
        finally:
            self.annotation_stack.pop()
        self._check_config_assign(node.targets, node.value)

    # --- calls -------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        qn = self.qn(node.func)
        name = call_name(node)
        if isinstance(node.func, ast.Attribute):
            if name in EXECUTE_METHODS or name == "exec_driver_sql":
                self._check_execute(node, name)
            if name == "query":
                self._check_query(node)
            if name in V1_METHODS:
                self._check_pydantic_method(node, name)
            if name in ("create_index", "drop_index"):
                self._check_concurrent_index_op(node)
            if name == "create" and terminal_name(node.func.value) == "URL":
                self._check_url_create(node)
        if is_from(qn, SA_ROOTS, "text") or name == "exec_driver_sql":
            self._check_text(node)
        if is_from(qn, SA_ROOTS, "DateTime", "TIMESTAMP"):
            self._check_datetime_call(node, qn or "")
        if name in COLUMN_FUNCS:
            self._check_bare_datetime_args(node)
        if is_from(qn, SA_ROOTS, "relationship"):
            self._check_relationship(node)
        elif is_from(qn, frozenset({"sqlmodel"}), "Relationship"):
            self._check_sqlmodel_relationship(node)
        if is_from(qn, SA_ROOTS, "backref"):
            self.report("DBA009", node, "backref() creates the reverse relationship implicitly")
        if is_from(qn, SA_ROOTS, "async_sessionmaker", "AsyncSession"):
            self._check_expire_on_commit(node, qn or "")
        if is_from(qn, SA_ROOTS, "sessionmaker"):
            self._check_legacy_sessionmaker(node)
        if is_from(qn, SA_ROOTS, "declarative_base", "as_declarative"):
            self.report(
                "DBA008",
                node,
                f"{name}() is the legacy declarative API (no Mapped[] typing, deprecated in 2.0)",
            )
        if is_from(qn, PYDANTIC_ROOTS, "ConfigDict", "SettingsConfigDict"):
            kw = keyword(node, "orm_mode")
            if kw is not None:
                self.report("DBA010", kw.value, ORM_MODE_MESSAGE)
        if is_from(qn, PYDANTIC_ROOTS, "parse_obj_as", "parse_raw_as"):
            self.report(
                "DBA012",
                node,
                f"{name}() is Pydantic v1",
                "use TypeAdapter(T).validate_python(data) / .validate_json(text)",
            )
        if is_from(qn, SA_ROOTS, "Enum", "ENUM"):
            self._check_enum_call(node, name or "Enum")
        if is_from(qn, SA_ROOTS, *ENGINE_FACTORIES):
            self._check_engine_factory(node, qn or "")
        if qn == "asyncio.gather" or (qn and qn.startswith("asyncio.") and name == "gather"):
            self._check_gather(node)
        self.generic_visit(node)

    # DBA001 (and DBA015/DBA016 in migrations)
    def _check_execute(self, node: ast.Call, name: str | None) -> None:
        arg = node.args[0] if node.args else None
        if arg is None:
            kw = keyword(node, "statement")
            arg = kw.value if kw else None
        if arg is None:
            return
        receiver = node.func.value  # type: ignore[attr-defined]
        if self.is_migration and name in ("execute", "exec_driver_sql"):
            self._check_migration_sql(node, arg)
        if name == "exec_driver_sql":
            return
        receiver_qn = self.qn(receiver)
        if (receiver_qn and receiver_qn.split(".")[0] == "alembic") or terminal_name(receiver) == "op":
            return  # op.execute() takes plain strings
        if self._is_driver_object(receiver):
            return
        if not (self.imports_sa or self._is_session_name(terminal_name(receiver))):
            return
        if not (self.ev.is_stringish(arg) or self.ev.names_bound_to_string(arg, self.scope)):
            return
        message = (
            f"{name}() gets a plain SQL string; SQLAlchemy 2.x raises ArgumentError "
            "(textual SQL must be declared with text())"
        )
        if self.ev.is_string_building(arg) and not self.ev.is_static(arg, self.scope):
            message += ", and this string is built from values (SQL injection risk)"
        self.report("DBA001", node, message)

    def _note_attribute_source(self, node: ast.Assign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        sources = [node.value] + ([node.annotation] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                if target.value.id not in ("self", "cls"):
                    continue
                name = target.attr
            elif isinstance(target, ast.Name) and isinstance(node, ast.AnnAssign):
                name = target.id  # a class-level declaration: `_conn: asyncpg.Connection`
            else:
                continue
            self.attribute_sources.setdefault(name, []).extend(x for x in sources if x is not None)

    def _makes_driver_object(self, expr: ast.AST) -> bool:
        if DRIVER_RE.search(ast.unparse(expr)):
            return True
        return any(
            isinstance(call, ast.Call) and call_name(call) in self.driver_funcs for call in ast.walk(expr)
        )

    def _is_driver_object(self, receiver: ast.AST) -> bool:
        if DRIVER_RE.search(ast.unparse(receiver)):
            return True
        if terminal_name(receiver) in ("cur", "curs", "cursor"):
            return True
        if (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id in ("self", "cls")
        ):
            sources = self.attribute_sources.get(receiver.attr, [])
            return any(self._makes_driver_object(source) for source in sources)
        root = receiver
        while isinstance(root, ast.Attribute | ast.Call | ast.Subscript):
            root = root.func if isinstance(root, ast.Call) else root.value
        if not isinstance(root, ast.Name):
            return False
        found = self.scope.lookup(root.id)
        if found is None:
            return False
        for binding in found[1]:
            if binding.value is not None and self._makes_driver_object(binding.value):
                return True
            if binding.kind == "param" and isinstance(binding.owner, ast.Lambda):
                parent = self.parents.get(binding.owner)
                if isinstance(parent, ast.Call) and call_name(parent) == "run_async":
                    return True  # AdaptedConnection.run_async(lambda driver_conn: ...)
        return False

    @staticmethod
    def _is_session_name(name: str | None) -> bool:
        if not name:
            return False
        lowered = name.lower()
        if "factory" in lowered or "maker" in lowered:
            return False
        return lowered in SESSION_EXACT or lowered.endswith("session")

    # DBA007
    def _check_query(self, node: ast.Call) -> None:
        receiver = node.func.value  # type: ignore[attr-defined]
        name = terminal_name(receiver)
        if not self._is_session_name(name):
            return
        if not (self.imports_sa or (name or "").lower().endswith("session")):
            return
        self.report(
            "DBA007",
            node,
            f"{dotted(receiver) or name}.query() is the legacy Query API (AsyncSession has none)",
        )

    # DBA002
    def _check_text(self, node: ast.Call) -> None:
        if self.is_migration:
            return  # migrations hold developer constants, not user input
        arg = node.args[0] if node.args else None
        if arg is None:
            kw = keyword(node, "text") or keyword(node, "statement")
            arg = kw.value if kw else None
        if arg is None:
            return
        what = "text()" if call_name(node) == "text" else "exec_driver_sql()"
        if self.ev.holes_are_identifiers(arg, self.scope):
            return
        if self.ev.is_string_building(arg):
            if not self.ev.is_static(arg, self.scope):
                self.report(
                    "DBA002", arg, f"SQL in {what} is built from values at run time (SQL injection risk)"
                )
            return
        built = self.ev.building_binding(arg, self.scope)
        if built is not None and not self.ev.is_static(arg, self.scope):
            line = getattr(built, "lineno", 0) + self.line_offset
            self.report(
                "DBA002",
                arg,
                f"SQL in {what} comes from {ast.unparse(arg)}, built from values at line {line} "
                "(SQL injection risk)",
            )

    # DBA003
    def _check_datetime_call(self, node: ast.Call, qn: str) -> None:
        if has_star_kwargs(node):
            return
        kw = keyword(node, "timezone")
        flag = kw.value if kw is not None else (node.args[0] if node.args else None)
        if flag is not None and not (isinstance(flag, ast.Constant) and not flag.value):
            return  # timezone=True, or decided at run time
        type_name = qn.split(".")[-1]
        self.report(
            "DBA003",
            node,
            f"{type_name}() without timezone=True is TIMESTAMP WITHOUT TIME ZONE: asyncpg rejects aware "
            "datetimes and naive ones lose the offset",
        )

    def _is_datetime_type_ref(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name | ast.Attribute) and is_from(
            self.qn(node), SA_ROOTS, "DateTime", "TIMESTAMP"
        )

    def _check_bare_datetime_args(self, node: ast.Call) -> None:
        candidates = list(node.args) + [kw.value for kw in node.keywords if kw.arg in ("type_", "type")]
        for arg in candidates:
            if self._is_datetime_type_ref(arg):
                self.report(
                    "DBA003",
                    arg,
                    f"{terminal_name(arg)} without timezone=True is TIMESTAMP WITHOUT TIME ZONE",
                    f"pass an instance: {terminal_name(arg)}(timezone=True)",
                )

    def _check_mapped_annotation(self, node: ast.AnnAssign) -> None:
        annotation = node.annotation
        if not isinstance(annotation, ast.Subscript):
            return
        if not is_from(self.qn(annotation.value), SA_ROOTS, "Mapped"):
            return
        value = node.value
        if value is not None:
            if not (isinstance(value, ast.Call) and call_name(value) == "mapped_column"):
                return
            if has_star_kwargs(value) or keyword(value, "type_") is not None:
                return
            for arg in value.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    continue
                if isinstance(arg, ast.Call) and call_name(arg) in NOT_A_TYPE:
                    continue
                return  # an explicit type (checked on its own)
        for inner in _union_members(annotation.slice):
            qn = self.qn(inner)
            if qn == "datetime.datetime":
                if not (self.project.datetime_mapped or self.facts.datetime_mapped):
                    self.report(
                        "DBA003",
                        node,
                        "Mapped[datetime] with no column type maps to DateTime() (TIMESTAMP, no time zone)",
                        "mapped_column(DateTime(timezone=True)), or type_annotation_map = "
                        "{datetime: DateTime(timezone=True)} on the Base",
                    )
                return
            name = terminal_name(inner)
            if name and name in self.project.enum_classes:
                if (
                    self.project.enum_base_mapped
                    or self.facts.enum_base_mapped
                    or name in self.project.mapped_type_names
                    or name in self.project.enum_classes_names_equal_values
                ):
                    return
                self.report(
                    "DBA014",
                    node,
                    f"Mapped[{name}] with no column type maps to Enum({name}), which stores member NAMES",
                    f"mapped_column(Enum({name}, name=..., values_callable=lambda e: [m.value for m in e]))",
                )
                return

    # DBA004 / DBA009
    def _check_relationship(self, node: ast.Call) -> None:
        backref = keyword(node, "backref")
        if backref is not None:
            self.report(
                "DBA009", backref.value, "relationship(backref=...) creates the reverse side implicitly"
            )
        if not self.is_async or has_star_kwargs(node):
            return
        annotation = self.annotation_stack[-1] if self.annotation_stack else None
        if isinstance(annotation, ast.Subscript) and terminal_name(annotation.value) in (
            "WriteOnlyMapped",
            "DynamicMapped",
        ):
            return
        lazy = keyword(node, "lazy")
        if lazy is None:
            self.report(
                "DBA004",
                node,
                "relationship() without lazy= in async code lazy-loads on attribute access (MissingGreenlet)",
            )
        elif isinstance(lazy.value, ast.Constant) and lazy.value.value == "dynamic":
            self.report(
                "DBA004",
                lazy.value,
                'lazy="dynamic" does not work with asyncio',
                'use WriteOnlyMapped[...] (lazy="write_only") and query it with select()',
            )

    def _check_sqlmodel_relationship(self, node: ast.Call) -> None:
        if not self.is_async or has_star_kwargs(node) or keyword(node, "sa_relationship") is not None:
            return
        kwargs = keyword(node, "sa_relationship_kwargs")
        if kwargs is not None:
            if not isinstance(kwargs.value, ast.Dict):
                return
            keys = {k.value for k in kwargs.value.keys if isinstance(k, ast.Constant)}
            if "lazy" in keys or None in kwargs.value.keys:
                return
        self.report(
            "DBA004",
            node,
            "Relationship() without a lazy strategy in async code lazy-loads on attribute access "
            "(MissingGreenlet)",
            'Relationship(..., sa_relationship_kwargs={"lazy": "raise"}) and selectinload() per query',
        )

    # DBA005 / DBA006
    def _check_expire_on_commit(self, node: ast.Call, qn: str) -> None:
        if keyword(node, "expire_on_commit") is not None or has_star_kwargs(node):
            return
        what = qn.split(".")[-1]
        self.report(
            "DBA005",
            node,
            f"{what}() without expire_on_commit=False: every attribute expires at commit and the next read "
            "raises MissingGreenlet",
            "async_sessionmaker(engine, expire_on_commit=False)"
            if what == "async_sessionmaker"
            else "AsyncSession(bind, expire_on_commit=False)",
        )

    def _check_legacy_sessionmaker(self, node: ast.Call) -> None:
        class_ = keyword(node, "class_")
        if class_ is None or terminal_name(class_.value) != "AsyncSession":
            return
        self.report(
            "DBA006", node, "sessionmaker(class_=AsyncSession) is the legacy way to make async sessions"
        )

    # DBA010 (model_config dict, class Config: orm_mode = True)
    def _check_config_assign(self, targets: list[ast.expr], value: ast.expr | None) -> None:
        names = {terminal_name(t) for t in targets}
        if "model_config" in names and isinstance(value, ast.Dict):
            for key in value.keys:
                if isinstance(key, ast.Constant) and key.value == "orm_mode":
                    self.report("DBA010", key, ORM_MODE_MESSAGE)
        if "orm_mode" in names and len(self.class_stack) >= 2 and self.class_stack[-1].name == "Config":
            self.report("DBA010", targets[0], ORM_MODE_MESSAGE)
        if "type_annotation_map" in names and isinstance(value, ast.Dict):
            for item in value.values:
                if self._is_datetime_type_ref(item):
                    self.report(
                        "DBA003",
                        item,
                        f"{terminal_name(item)} without timezone=True is TIMESTAMP WITHOUT TIME ZONE",
                        f"{terminal_name(item)}(timezone=True)",
                    )

    # DBA012
    def _check_pydantic_method(self, node: ast.Call, name: str) -> None:
        receiver = node.func.value  # type: ignore[attr-defined]
        kwargs = {kw.arg for kw in node.keywords if kw.arg}
        if name in ("dict", "json"):
            if not (self._is_pydantic_instance(receiver) or (kwargs and kwargs <= V1_DUMP_KWARGS)):
                return
        elif name == "copy":
            if "update" not in kwargs or not (self._is_pydantic_instance(receiver) or self.imports_pydantic):
                return
        elif not self._is_pydantic_class_ref(receiver):
            return
        self.report("DBA012", node, V1_METHODS[name], V1_FIXES[name])

    def _is_model_name(self, node: ast.AST) -> bool:
        """A project Pydantic class by name, unless this module imports the name from a library
        that is not Pydantic (httpx.Response, starlette's Request ...)."""
        name = terminal_name(node)
        if not name or name not in self.project.pydantic_classes:
            return False
        root = (self.qn(node) or "").split(".")[0]
        return (
            not root
            or root in PYDANTIC_ROOTS
            or not (root in sys.stdlib_module_names or root in NON_MODEL_ROOTS)
        )

    def _is_pydantic_class_ref(self, node: ast.AST) -> bool:
        name = terminal_name(node)
        if not name:
            return False
        if self._is_model_name(node):
            return True
        if name in ("cls", "self") and self.class_stack:
            return self.class_stack[-1].name in self.project.pydantic_classes
        return self.imports_pydantic and isinstance(node, ast.Name) and name[:1].isupper()

    def _is_pydantic_instance(self, node: ast.AST, depth: int = 0) -> bool:
        models = self.project.pydantic_classes
        if depth > 3:
            return False
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and self._is_model_name(func):
                return True
            return (
                isinstance(func, ast.Attribute)
                and self._is_model_name(func.value)
                and func.attr in PYDANTIC_CONSTRUCTORS
            )
        if not isinstance(node, ast.Name):
            return False
        if node.id == "self" and self.class_stack and self.class_stack[-1].name in models:
            return True
        found = self.scope.lookup(node.id)
        if found is None:
            return False
        for binding in found[1]:
            if binding.kind == "param" and binding.value is not None:
                if any(self._is_model_name(m) for m in _union_members(binding.value)):
                    return True
            if binding.kind == "assign" and binding.value is not None:
                if self._is_pydantic_instance(binding.value, depth + 1):
                    return True
        return False

    # DBA013
    def _check_validator_decorator(self, decorator: ast.expr) -> None:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        qn = self.qn(target)
        if is_from(qn, frozenset({"pydantic"}), "validator", "root_validator"):
            name = (qn or "").split(".")[-1]
            self.report(
                "DBA013",
                decorator,
                f"@{name} is the Pydantic v1 validator API (deprecated in v2)",
                "@field_validator(...)" if name == "validator" else "@model_validator(mode=...)",
            )

    # DBA014
    def _check_enum_call(self, node: ast.Call, name: str) -> None:
        if not node.args or keyword(node, "values_callable") is not None or has_star_kwargs(node):
            return
        first = node.args[0]
        if not isinstance(first, ast.Name | ast.Attribute):
            return  # string labels: Enum("a", "b", name=...)
        enum_name = terminal_name(first) or ""
        if enum_name in self.project.enum_classes_names_equal_values:
            return  # names and values are the same strings
        self.report(
            "DBA014",
            node,
            f"{name}({enum_name}) without values_callable stores member NAMES, not values, in PostgreSQL",
            f'{name}({enum_name}, name="...", values_callable=lambda e: [m.value for m in e])',
        )

    # DBA015 / DBA016
    def _in_autocommit(self) -> bool:
        if self.autocommit_depth > 0:
            return True
        return any(func.name in self.autocommit_funcs for func in self.func_stack)

    def _check_migration_sql(self, node: ast.Call, arg: ast.AST) -> None:
        if isinstance(arg, ast.Call) and call_name(arg) == "text" and arg.args:
            arg = arg.args[0]
        sql = self.ev.string_value(arg, self.scope)
        if not sql or self._in_autocommit():
            return
        if CONCURRENTLY.search(sql):
            self.report(
                "DBA015",
                node,
                "INDEX ... CONCURRENTLY inside the migration's transaction fails "
                "(cannot run inside a transaction block)",
            )
        if ADD_VALUE.search(sql):
            self.report(
                "DBA016",
                node,
                "ALTER TYPE ... ADD VALUE inside the migration's transaction: the value is unusable until "
                "commit (and PostgreSQL < 12 refuses it)",
            )

    def _check_concurrent_index_op(self, node: ast.Call) -> None:
        if not self.is_migration:
            return
        kw = keyword(node, "postgresql_concurrently")
        if kw is None or (isinstance(kw.value, ast.Constant) and not kw.value.value):
            return
        if self._in_autocommit():
            return
        self.report(
            "DBA015",
            node,
            f"{call_name(node)}(postgresql_concurrently=True) inside the migration's transaction fails "
            "(cannot run inside a transaction block)",
        )

    # DBA018 / DBA019 / DBA022
    def _check_url_create(self, node: ast.Call) -> None:
        driver = node.args[0] if node.args else None
        kw = keyword(node, "drivername")
        if kw is not None:
            driver = kw.value
        if isinstance(driver, ast.Constant) and driver.value in ("postgresql", "postgres"):
            self.report(
                "DBA018",
                driver,
                f'URL.create("{driver.value}") names no driver; SQLAlchemy 2.1 then uses psycopg (3)',
                'URL.create("postgresql+asyncpg", ...)',
            )

    def _check_engine_factory(self, node: ast.Call, qn: str) -> None:
        factory = qn.split(".")[-1]
        if factory in ASYNC_ENGINE_FACTORIES:
            connect_args = keyword(node, "connect_args")
            if connect_args is not None and isinstance(connect_args.value, ast.Dict):
                for key in connect_args.value.keys:
                    if isinstance(key, ast.Constant) and key.value == "sslmode":
                        self.report(
                            "DBA019",
                            key,
                            'connect_args "sslmode" is a libpq option; asyncpg.connect() rejects it',
                        )
        func = self.func_stack[-1] if self.func_stack else None
        if func is None:
            return
        if self._is_route_handler(func) or func.name in self.project.depends_targets:
            kind = "route handler" if self._is_route_handler(func) else "Depends() dependency"
            self.report(
                "DBA022",
                node,
                f"{factory}() inside {kind} {func.name}() builds a new engine and pool on every request",
            )

    def _is_route_handler(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        for decorator in func.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in ROUTE_METHODS:
                return True
            if isinstance(target, ast.Name) and target.id in ROUTE_METHODS:
                qn = self.qn(target)
                if qn and qn.split(".")[0] in ("litestar", "starlite"):
                    return True
        return False

    # DBA020
    def _check_gather(self, node: ast.Call) -> None:
        counts: dict[str, int] = {}
        for arg in node.args:
            weight = 1
            expr: ast.AST = arg
            if isinstance(arg, ast.Starred):
                expr = arg.value
                if isinstance(expr, ast.GeneratorExp | ast.ListComp):
                    expr = expr.elt
                    weight = 2  # one entry per item of the iterable
                else:
                    continue
            for key in self._sessions_used(expr):
                counts[key] = counts.get(key, 0) + weight
        shared = sorted(key for key, count in counts.items() if count >= 2)
        if shared:
            self.report(
                "DBA020",
                node,
                f"asyncio.gather() runs several operations on one session ({shared[0]}) at once; "
                "an AsyncSession allows one operation at a time",
            )

    def _sessions_used(self, expr: ast.AST) -> set[str]:
        keys: set[str] = set()
        if isinstance(expr, ast.Await):
            expr = expr.value
        if not isinstance(expr, ast.Call):
            return keys
        if isinstance(expr.func, ast.Attribute):
            receiver = expr.func.value
            if self._is_session_expr(receiver):
                keys.add(dotted(receiver) or "")
        for arg in [*expr.args, *(kw.value for kw in expr.keywords)]:
            if isinstance(arg, ast.Name | ast.Attribute) and self._is_session_expr(arg):
                keys.add(dotted(arg) or "")
        keys.discard("")
        return keys

    def _is_session_expr(self, node: ast.AST) -> bool:
        """Is this one session (or connection) object? Judged by how the name was bound: a parameter
        annotated AsyncSession, `async with factory() as s`, `s = AsyncSession(...)`; by name only
        when nothing else is known. Sessionmakers (factories) are not sessions."""
        if isinstance(node, ast.Attribute):
            return node.attr.lower() != "s" and self._is_session_name(node.attr)
        if not isinstance(node, ast.Name) or node.id in self.module_factories:
            return False
        found = self.scope.lookup(node.id)
        if found is None:
            return self.imports_sa and node.id.lower() in SESSION_EXACT - {"s"}
        for binding in found[1]:
            if binding.kind == "param":
                if binding.value is None:
                    return self.imports_sa and self._is_session_name(node.id)
                text = ast.unparse(binding.value)
                if "maker" in text or "Callable" in text or "factory" in text.lower():
                    return False
                return "Session" in text or "AsyncConnection" in text
            if binding.kind in ("with", "assign") and isinstance(binding.value, ast.Call):
                return self._opens_session(binding.value)
        return False

    def _opens_session(self, call: ast.Call) -> bool:
        qn = self.qn(call.func)
        if qn and qn.split(".")[0] in HTTP_ROOTS:
            return False
        if is_from(qn, SA_ROOTS, "AsyncSession", "Session", "async_sessionmaker", "sessionmaker"):
            return call_name(call) in ("AsyncSession", "Session")
        name = call_name(call) or ""
        if name in self.module_factories:
            return True
        if name in ("connect", "begin") and isinstance(call.func, ast.Attribute):
            return "engine" in (terminal_name(call.func.value) or "").lower()
        lowered = name.lower()
        return "session" in lowered and "maker" not in lowered

    # --- attributes and strings --------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "create_all" and not self.is_test:
            text = (dotted(node.value) or "").lower()
            if self.imports_sa or "metadata" in text:
                self.report(
                    "DBA017",
                    node,
                    f"{dotted(node) or 'create_all'} in application code: a second schema owner beside "
                    "Alembic (DuplicateTable on upgrade, empty autogenerate)",
                )
        if node.attr in ("utcnow", "utcfromtimestamp") and self.qn(node.value) == "datetime.datetime":
            self.report(
                "DBA021",
                node,
                f"datetime.{node.attr}() returns a naive datetime (deprecated since Python 3.12)",
                "datetime.now(UTC)" if node.attr == "utcnow" else "datetime.fromtimestamp(ts, UTC)",
            )
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node not in self.docstrings:
            if not isinstance(self.parents.get(node), ast.JoinedStr | ast.FormattedValue):
                self._check_url_string(node, node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._check_url_string(node, self.ev.string_value(node) or "")
        self.generic_visit(node)

    def _check_url_string(self, node: ast.AST, value: str) -> None:
        if URL_ASYNCPG_SSLMODE.search(value):
            self.report(
                "DBA019",
                node,
                "sslmode= in a postgresql+asyncpg URL is passed to asyncpg.connect(), which rejects it "
                "(TypeError)",
            )
            return
        if not URL_NO_DRIVER.search(value) or not self._url_is_for_sqlalchemy(node):
            return
        scheme = value.strip().split("://", 1)[0]
        self.report(
            "DBA018",
            node,
            f"{scheme}:// URL names no driver; SQLAlchemy 2.1 then loads psycopg (3), not asyncpg",
            f"{scheme.replace('postgres', 'postgresql') if scheme == 'postgres' else scheme}+asyncpg://... "
            "(or +psycopg / +psycopg2 for sync tools)",
        )

    def _url_is_for_sqlalchemy(self, node: ast.AST) -> bool:
        """False when the string goes to a raw driver, a subprocess, or a string method (directly, or
        through a name that is only used that way)."""
        if self.imports_driver and not self.imports_sa:
            return False
        parent = self.parents.get(node)
        target = None
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            target = parent.targets[0]
        elif isinstance(parent, ast.AnnAssign):
            target = parent.target
        if isinstance(target, ast.Name):
            uses = [
                n
                for n in ast.walk(self.facts.tree)
                if isinstance(n, ast.Name) and n.id == target.id and isinstance(n.ctx, ast.Load)
            ]
            if uses and not any(self._url_use_is_for_sqlalchemy(use) for use in uses):
                return False
        return self._url_use_is_for_sqlalchemy(node)

    def _url_use_is_for_sqlalchemy(self, node: ast.AST) -> bool:
        current = node
        parent = self.parents.get(current)
        while isinstance(
            parent, ast.List | ast.Tuple | ast.keyword | ast.Starred | ast.BinOp | ast.JoinedStr
        ):
            current, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.Compare):
            return False
        if isinstance(parent, ast.Call):
            if call_name(parent) in URL_SAFE_CALLS:
                return False
            qn = self.qn(parent.func)
            if qn and qn.split(".")[0] in DRIVER_CALL_ROOTS:
                return False
            if DRIVER_RE.search(ast.unparse(parent.func)):
                return False
        return True


def _union_members(annotation: ast.AST) -> list[ast.AST]:
    """The member types of X, Optional[X], Union[X, None], X | None and Annotated[X, ...]."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _union_members(annotation.left) + _union_members(annotation.right)
    if isinstance(annotation, ast.Subscript):
        wrapper = terminal_name(annotation.value)
        if wrapper in ("Optional", "Union", "Annotated"):
            inner = annotation.slice
            members = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            if wrapper == "Annotated":
                members = members[:1]
            return [m for part in members for m in _union_members(part)]
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return []
    return [annotation]
