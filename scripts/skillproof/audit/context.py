"""What the checks know about a module and a project, gathered before any rule runs.

Everything here is static: names are resolved through the module's own imports, never by importing
the user's code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

SA_ROOTS = frozenset({"sqlalchemy", "sqlmodel"})
PYDANTIC_ROOTS = frozenset({"pydantic", "pydantic_settings", "sqlmodel"})
PYDANTIC_BASES = frozenset({"BaseModel", "RootModel", "BaseSettings", "SQLModel", "GenericModel"})
ENUM_BASES = frozenset({"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag", "ReprEnum"})
# Names whose import marks a module as asyncio SQLAlchemy code.
ASYNC_NAMES = frozenset(
    {
        "AsyncSession",
        "AsyncEngine",
        "AsyncConnection",
        "AsyncAttrs",
        "create_async_engine",
        "async_sessionmaker",
        "async_engine_from_config",
        "async_scoped_session",
    }
)
TEST_DIRS = frozenset({"tests", "test", "testing"})
# Text that marks an expression as a raw driver object (asyncpg, psycopg, sqlite3 ...), whose
# execute() takes plain SQL strings legitimately.
DRIVER_RE = re.compile(
    r"\b(asyncpg|psycopg2?|sqlite3|aiosqlite|aiopg|pg8000|databases)\b"
    r"|driver_connection|dbapi_connection|raw_connection|\.cursor\(|\bcursor\b|\.acquire\("
)


def qualified_name(node: ast.AST, aliases: dict[str, str], stars: tuple[str, ...] = ()) -> str | None:
    """The dotted name an expression refers to, through the module's imports ("sa.DateTime" ->
    "sqlalchemy.DateTime"); None when it is not an imported name."""
    if isinstance(node, ast.Name):
        if node.id in aliases:
            return aliases[node.id]
        return f"{stars[0]}.{node.id}" if stars else None
    if isinstance(node, ast.Attribute):
        base = qualified_name(node.value, aliases, stars)
        return f"{base}.{node.attr}" if base else None
    return None


def is_from(qualname: str | None, roots: frozenset[str], *names: str) -> bool:
    """True when a qualified name lives under one of `roots` and ends with one of `names`."""
    if not qualname:
        return False
    parts = qualname.split(".")
    if parts[0] not in roots or len(parts) < 2:
        return False
    if parts[0] == "pydantic" and len(parts) > 1 and parts[1] == "v1":
        return False  # an explicit v1 import is a deliberate choice
    return not names or parts[-1] in names


def terminal_name(node: ast.AST) -> str | None:
    """The last identifier of a Name/Attribute chain ("self.session" -> "session")."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def dotted(node: ast.AST) -> str | None:
    """The dotted text of a Name/Attribute chain ("a.b.c"), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def call_name(node: ast.Call) -> str | None:
    return terminal_name(node.func)


def keyword(node: ast.Call, name: str) -> ast.keyword | None:
    for kw in node.keywords:
        if kw.arg == name:
            return kw
    return None


def has_star_kwargs(node: ast.Call) -> bool:
    return any(kw.arg is None for kw in node.keywords)


def is_test_path(path: str) -> bool:
    pure = PurePosixPath(path.replace("\\", "/"))
    name = pure.name
    if name == "conftest.py" or (name.startswith("test_") and name.endswith(".py")):
        return True
    if name.endswith("_test.py"):
        return True
    return any(part in TEST_DIRS for part in pure.parts[:-1])


def is_versions_path(path: str) -> bool:
    pure = PurePosixPath(path.replace("\\", "/"))
    return "versions" in pure.parts[:-1]


@dataclass
class ClassInfo:
    name: str
    base_names: list[str]  # terminal names of the bases
    base_qualnames: list[str | None]
    enum_names_equal_values: bool = False  # every member is NAME = "NAME"


@dataclass
class ModuleFacts:
    """Facts from one module (or one Markdown code block)."""

    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)
    stars: tuple[str, ...] = ()
    constants: dict[str, ast.expr] = field(default_factory=dict)  # module-level NAME = value, bound once
    classes: list[ClassInfo] = field(default_factory=list)
    imports_async: bool = False
    imports_op: bool = False
    imports_test_framework: bool = False
    datetime_mapped: bool = False
    enum_base_mapped: bool = False
    mapped_type_names: set[str] = field(default_factory=set)
    depends_targets: set[str] = field(default_factory=set)

    @property
    def roots(self) -> set[str]:
        return {name.split(".")[0] for name in self.aliases.values()} | {s.split(".")[0] for s in self.stars}

    def imports_any(self, roots: frozenset[str] | set[str]) -> bool:
        return bool(self.roots & set(roots))


@dataclass(frozen=True)
class ProjectFacts:
    """Facts that hold across the audited files (or across the blocks of one Markdown document)."""

    is_async: bool = False
    datetime_mapped: bool = False
    enum_base_mapped: bool = False
    mapped_type_names: frozenset[str] = frozenset()
    pydantic_classes: frozenset[str] = frozenset()
    enum_classes: frozenset[str] = frozenset()
    enum_classes_names_equal_values: frozenset[str] = frozenset()
    depends_targets: frozenset[str] = frozenset()


def gather_module_facts(tree: ast.Module) -> ModuleFacts:
    """One walk over the tree; names are resolved once every import has been seen."""
    facts = ModuleFacts(tree=tree)
    stars: list[str] = []
    classes: list[ast.ClassDef] = []
    type_maps: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    facts.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    facts.aliases[top] = top
                _note_import(facts, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    if module.split(".")[0] in SA_ROOTS:
                        stars.append(module)
                    continue
                facts.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
                _note_import(facts, f"{module}.{alias.name}")
        elif isinstance(node, ast.ClassDef):
            classes.append(node)
        elif isinstance(node, ast.Call):
            if call_name(node) == "Depends" and node.args:
                target = terminal_name(node.args[0])
                if target:
                    facts.depends_targets.add(target)
            kw = keyword(node, "type_annotation_map")
            if kw is not None:
                type_maps.append(kw.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(terminal_name(t) == "type_annotation_map" for t in targets):
                type_maps.append(node.value)
    facts.stars = tuple(stars)

    assigned_twice: set[str] = set()
    for stmt in tree.body:
        for name, value in _simple_assignments(stmt):
            if name in facts.constants:
                assigned_twice.add(name)
            facts.constants[name] = value
    for name in assigned_twice:
        del facts.constants[name]
    facts.classes = [_class_info(node, facts) for node in classes]
    for value in type_maps:
        _note_type_map(facts, value)
    return facts


def _note_import(facts: ModuleFacts, qualname: str) -> None:
    parts = qualname.split(".")
    if parts[0] in SA_ROOTS and ("asyncio" in parts or parts[-1] in ASYNC_NAMES):
        facts.imports_async = True
    if qualname == "alembic.op":
        facts.imports_op = True
    if parts[0] in ("pytest", "unittest", "pytest_asyncio"):
        facts.imports_test_framework = True


def _simple_assignments(stmt: ast.stmt) -> list[tuple[str, ast.expr]]:
    if isinstance(stmt, ast.Assign):
        return [(t.id, stmt.value) for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name):
        return [(stmt.target.id, stmt.value)]
    return []


def _class_info(node: ast.ClassDef, facts: ModuleFacts) -> ClassInfo:
    base_names = [terminal_name(b) or "" for b in node.bases]
    base_qualnames = [qualified_name(b, facts.aliases, facts.stars) for b in node.bases]
    equal = True
    members = 0
    for stmt in node.body:
        for name, value in _simple_assignments(stmt):
            if name.startswith("_"):
                continue
            members += 1
            if not (isinstance(value, ast.Constant) and value.value == name):
                equal = False
    return ClassInfo(node.name, base_names, base_qualnames, equal and members > 0)


def _note_type_map(facts: ModuleFacts, value: ast.expr) -> None:
    if not isinstance(value, ast.Dict):
        # Built elsewhere: assume it maps what it needs to (no false alarms).
        facts.datetime_mapped = True
        facts.enum_base_mapped = True
        return
    for key in value.keys:
        if key is None:
            facts.datetime_mapped = True
            facts.enum_base_mapped = True
            continue
        qualname = qualified_name(key, facts.aliases, facts.stars)
        if qualname == "datetime.datetime":
            facts.datetime_mapped = True
        elif qualname and qualname.split(".")[0] == "enum":
            facts.enum_base_mapped = True
        name = terminal_name(key)
        if name:
            facts.mapped_type_names.add(name)


def merge_for_document(
    blocks: list[ModuleFacts],
) -> tuple[dict[str, str], tuple[str, ...], dict[str, ast.expr]]:
    """Imports and constants shared by the blocks of one Markdown document (they share namespaces)."""
    aliases: dict[str, str] = {}
    stars: list[str] = []
    constants: dict[str, ast.expr] = {}
    for facts in blocks:
        for name, target in facts.aliases.items():
            aliases.setdefault(name, target)
        stars.extend(s for s in facts.stars if s not in stars)
        for name, value in facts.constants.items():
            constants.setdefault(name, value)
    return aliases, tuple(stars), constants


def build_project_facts(modules: list[ModuleFacts]) -> ProjectFacts:
    classes = [info for facts in modules for info in facts.classes]
    pydantic: set[str] = set()
    enums: set[str] = set()
    for info in classes:
        if any(is_from(q, PYDANTIC_ROOTS, *PYDANTIC_BASES) for q in info.base_qualnames):
            pydantic.add(info.name)
        if any(
            q and q.split(".")[0] == "enum" and q.split(".")[-1] in ENUM_BASES for q in info.base_qualnames
        ):
            enums.add(info.name)
    changed = True
    while changed:  # subclasses of subclasses, across modules, by name
        changed = False
        for info in classes:
            if info.name not in pydantic and any(b in pydantic for b in info.base_names):
                pydantic.add(info.name)
                changed = True
            if info.name not in enums and any(b in enums for b in info.base_names):
                enums.add(info.name)
                changed = True
    return ProjectFacts(
        is_async=any(m.imports_async for m in modules),
        datetime_mapped=any(m.datetime_mapped for m in modules),
        enum_base_mapped=any(m.enum_base_mapped for m in modules),
        mapped_type_names=frozenset(n for m in modules for n in m.mapped_type_names),
        pydantic_classes=frozenset(pydantic),
        enum_classes=frozenset(enums),
        enum_classes_names_equal_values=frozenset(
            info.name for info in classes if info.name in enums and info.enum_names_equal_values
        ),
        depends_targets=frozenset(n for m in modules for n in m.depends_targets),
    )


# --- scopes: what each name in a function is bound to ----------------------------------------


@dataclass(frozen=True)
class Binding:
    kind: str  # "assign", "augassign", "param", "for", "with", "import", "other"
    value: ast.AST | None = None  # assigned value, iterable, context expression or annotation
    index: int | None = None  # position in a tuple target ("for i, x in ...")
    owner: ast.AST | None = None  # the function or lambda, for params


class Scope:
    """The bindings of one function (comprehension targets included), or of a module."""

    def __init__(self, node: ast.AST, parent: Scope | None) -> None:
        self.node = node
        self.parent = parent
        self._bindings: dict[str, list[Binding]] | None = None

    @property
    def bindings(self) -> dict[str, list[Binding]]:
        """Computed on first use: most scopes are never asked."""
        if self._bindings is None:
            self._bindings = {}
            self._collect_scope(self.node)
        return self._bindings

    def _collect_scope(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                self._add(arg.arg, Binding("param", arg.annotation, owner=node))
            for arg in (args.vararg, args.kwarg):
                if arg is not None:
                    self._add(arg.arg, Binding("other"))
            body = [node.body] if isinstance(node, ast.Lambda) else node.body
        else:
            body = getattr(node, "body", [])
        for stmt in body:
            self._collect(stmt)

    def _add(self, name: str, binding: Binding) -> None:
        assert self._bindings is not None
        self._bindings.setdefault(name, []).append(binding)

    def _bind_target(
        self, target: ast.AST, kind: str, value: ast.AST | None, index: int | None = None
    ) -> None:
        if isinstance(target, ast.Name):
            self._add(target.id, Binding(kind, value, index))
        elif isinstance(target, ast.Tuple | ast.List):
            for position, element in enumerate(target.elts):
                if (
                    kind == "assign"
                    and isinstance(value, ast.Tuple | ast.List)
                    and len(value.elts) == len(target.elts)
                ):
                    self._bind_target(element, "assign", value.elts[position])
                elif kind == "for" and index is None:
                    self._bind_target(element, "for", value, position)
                else:
                    self._bind_target(element, "other", None)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, "other", None)

    def _collect(self, node: ast.AST) -> None:
        """Record bindings made directly in this scope (not in nested functions or classes)."""
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._add(node.name, Binding("other"))
            for decorator in node.decorator_list:
                self._collect(decorator)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, "assign", node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self._bind_target(node.target, "assign", node.value)
        elif isinstance(node, ast.AugAssign):
            self._bind_target(node.target, "augassign", node.value)
        elif isinstance(node, ast.NamedExpr):
            self._bind_target(node.target, "assign", node.value)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self._bind_target(node.target, "for", node.iter)
        elif isinstance(node, ast.comprehension):
            self._bind_target(node.target, "for", node.iter)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind_target(item.optional_vars, "with", item.context_expr)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                self._add((alias.asname or alias.name).split(".")[0], Binding("import"))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self._add(node.name, Binding("other"))
        for child in ast.iter_child_nodes(node):
            self._collect(child)

    def lookup(self, name: str) -> tuple[Scope, list[Binding]] | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope, scope.bindings[name]
            scope = scope.parent
        return None


# --- values: is an expression fixed by the code itself, and is it a SQL string being built? ---

SAFE_FUNCS = frozenset({"int", "float", "len", "bool", "round", "abs", "min", "max", "range", "sum"})
QUOTING_FUNCS = frozenset({"quote", "quote_identifier", "quote_ident", "quote_schema", "format_table"})
STR_METHODS = frozenset({"format", "join", "upper", "lower", "strip", "replace", "title", "casefold"})
NUMERIC_SPEC = re.compile(r"[bcdeEfFgGnoxX%]$")
HOLE = "\x00"
PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]")
FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
# Statements that take identifiers where a value would be a bound parameter elsewhere (SET is not
# here: its values must not be interpolated either; set_config() takes parameters).
IDENTIFIER_STATEMENTS = frozenset(
    {
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "GRANT",
        "REVOKE",
        "COMMENT",
        "VACUUM",
        "ANALYZE",
        "REINDEX",
        "CLUSTER",
        "REFRESH",
        "LOCK",
        "DESCRIBE",
        "PRAGMA",
    }
)


class Evaluator:
    """Static judgements about expressions, resolved through scopes and module constants."""

    def __init__(self, constants: dict[str, ast.expr], safe_class_names: frozenset[str] = frozenset()):
        self.constants = constants
        self.safe_class_names = safe_class_names  # enum classes: Status.ACTIVE.value is a constant
        self._active: set[tuple[int, str]] = set()

    # -- static: the value is decided by the program text, not by input ---------------------------
    def is_static(self, node: ast.AST | None, scope: Scope | None, depth: int = 0) -> bool:
        if node is None or depth > 25:
            return False
        recur = self.is_static
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(recur(v, scope, depth + 1) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            spec = node.format_spec
            if isinstance(spec, ast.JoinedStr) and len(spec.values) == 1:
                text = spec.values[0]
                if isinstance(text, ast.Constant) and NUMERIC_SPEC.search(str(text.value)):
                    return True  # {n:d} renders a number, never SQL
            return recur(node.value, scope, depth + 1)
        if isinstance(node, ast.BinOp):
            return recur(node.left, scope, depth + 1) and recur(node.right, scope, depth + 1)
        if isinstance(node, ast.UnaryOp):
            return recur(node.operand, scope, depth + 1)
        if isinstance(node, ast.BoolOp):
            return all(recur(v, scope, depth + 1) for v in node.values)
        if isinstance(node, ast.IfExp):
            return recur(node.body, scope, depth + 1) and recur(node.orelse, scope, depth + 1)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(recur(e, scope, depth + 1) for e in node.elts)
        if isinstance(node, ast.Dict):
            return all(recur(v, scope, depth + 1) for v in node.values)
        if isinstance(node, ast.Starred):
            return recur(node.value, scope, depth + 1)
        if isinstance(node, ast.Subscript):
            # A lookup in a fixed table (an identifier whitelist) yields a fixed value.
            return recur(node.value, scope, depth + 1)
        if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp):
            return recur(node.elt, scope, depth + 1)
        if isinstance(node, ast.Attribute):
            text = dotted(node) or ""
            if "__tablename__" in text or "__table__" in text:
                return True
            root = text.split(".")[0]
            return bool(root) and (
                root in self.safe_class_names or (root.isupper() and root in self.constants)
            )
        if isinstance(node, ast.Call):
            name = call_name(node)
            if isinstance(node.func, ast.Name) and name in SAFE_FUNCS:
                return True
            if name in QUOTING_FUNCS:
                return True
            if isinstance(node.func, ast.Name) and name == "str":
                return all(recur(a, scope, depth + 1) for a in node.args)
            if isinstance(node.func, ast.Attribute) and name in STR_METHODS:
                return recur(node.func.value, scope, depth + 1) and all(
                    recur(a, scope, depth + 1) for a in [*node.args, *(k.value for k in node.keywords)]
                )
            return False
        if isinstance(node, ast.Name):
            return self._name_is_static(node.id, scope, depth)
        return False

    def _name_is_static(self, name: str, scope: Scope | None, depth: int) -> bool:
        found = scope.lookup(name) if scope is not None else None
        if found is None:
            if name in self.constants:
                key = (0, name)
                if key in self._active:
                    return False
                self._active.add(key)
                try:
                    return self.is_static(self.constants[name], None, depth + 1)
                finally:
                    self._active.discard(key)
            return name.isupper() or name in self.safe_class_names
        owner, bindings = found
        key = (id(owner), name)
        if key in self._active:
            return True  # a self-reference (x = x + "..."): judged by its other parts
        self._active.add(key)
        try:
            return all(self._binding_is_static(b, owner, depth) for b in bindings)
        finally:
            self._active.discard(key)

    def _binding_is_static(self, binding: Binding, scope: Scope, depth: int) -> bool:
        if binding.kind in ("assign", "augassign"):
            return self.is_static(binding.value, scope, depth + 1)
        if binding.kind == "for":
            iterable = binding.value
            if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
                if iterable.func.id == "range":
                    return True
                if iterable.func.id == "enumerate":
                    if binding.index == 0:
                        return True
                    return bool(iterable.args) and self.is_static(iterable.args[0], scope, depth + 1)
            if isinstance(iterable, ast.Call) and call_name(iterable) in ("items", "keys", "values"):
                return isinstance(iterable.func, ast.Attribute) and self.is_static(
                    iterable.func.value, scope, depth + 1
                )
            return self.is_static(iterable, scope, depth + 1)
        if binding.kind == "import":
            return True
        return False

    # -- strings ------------------------------------------------------------------------------
    def is_string_building(self, node: ast.AST) -> bool:
        """An expression that assembles a string at run time: f-string with fields, %, .format, +."""
        if isinstance(node, ast.JoinedStr):
            return any(isinstance(v, ast.FormattedValue) for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self.is_stringish(node.left)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.is_stringish(node.left) or self.is_stringish(node.right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format":
                return self.is_stringish(node.func.value)
            if node.func.attr == "join":
                return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
        return False

    def is_stringish(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.JoinedStr):
            return True
        return self.is_string_building(node)

    def string_value(self, node: ast.AST | None, scope: Scope | None = None, depth: int = 0) -> str | None:
        """The text of a string expression, with run-time parts shown as "x"; None if not a string."""
        if node is None or depth > 10:
            return None
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    parts.append("x")
            return "".join(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.string_value(node.left, scope, depth + 1)
            right = self.string_value(node.right, scope, depth + 1)
            if left is None and right is None:
                return None
            return (left if left is not None else "x") + (right if right is not None else "x")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self.string_value(node.left, scope, depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return self.string_value(node.func.value, scope, depth + 1)
        if isinstance(node, ast.Name):
            found = scope.lookup(node.id) if scope is not None else None
            if found is None:
                value = self.constants.get(node.id)
                return self.string_value(value, None, depth + 1) if value is not None else None
            values = [b.value for b in found[1] if b.kind == "assign"]
            if len(values) == 1 and len(found[1]) == 1:
                return self.string_value(values[0], found[0], depth + 1)
        return None

    def render_with_holes(self, node: ast.AST, scope: Scope | None, depth: int = 0) -> str | None:
        """The SQL text of a string-building expression, with HOLE where a run-time value goes."""
        if depth > 10:
            return None
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    parts.append("x" if self.is_static(value, scope) else HOLE)
            return "".join(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self.render_with_holes(node.left, scope, depth + 1)
            return PERCENT_FIELD.sub(HOLE, left) if left is not None else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts = []
            for side in (node.left, node.right):
                text = self.render_with_holes(side, scope, depth + 1)
                parts.append(text if text is not None else ("x" if self.is_static(side, scope) else HOLE))
            return "".join(parts)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            template = self.render_with_holes(node.func.value, scope, depth + 1)
            return FORMAT_FIELD.sub(HOLE, template) if template is not None else None
        if isinstance(node, ast.Name) and scope is not None:
            found = scope.lookup(node.id)
            if found is not None:
                texts = [
                    self.render_with_holes(b.value, found[0], depth + 1)
                    for b in found[1]
                    if b.kind in ("assign", "augassign") and b.value is not None
                ]
                if texts and all(t is not None for t in texts):
                    return "".join(t for t in texts if t is not None)
        return None

    def holes_are_identifiers(self, node: ast.AST, scope: Scope | None) -> bool:
        """True for DDL/utility SQL (CREATE, DROP, ALTER ...) whose run-time parts all sit outside
        quotes: those are identifiers, which bound parameters cannot replace."""
        text = self.render_with_holes(node, scope)
        if not text or HOLE not in text:
            return False
        first = text.lstrip(" \t\n(").split(None, 1)
        if not first or first[0].upper() not in IDENTIFIER_STATEMENTS:
            return False
        quoted = False
        for char in text:
            if char == "'":
                quoted = not quoted
            elif char == HOLE and quoted:
                return False  # a value inside '...': that is injection
        return True

    def names_bound_to_string(self, node: ast.AST, scope: Scope | None) -> bool:
        """A Name whose every binding is a string expression (so passing it is passing a str)."""
        if not isinstance(node, ast.Name):
            return False
        found = scope.lookup(node.id) if scope is not None else None
        if found is None:
            value = self.constants.get(node.id)
            return value is not None and self.is_stringish(value)
        bindings = found[1]
        return bool(bindings) and all(
            b.kind in ("assign", "augassign") and b.value is not None and self.is_stringish(b.value)
            for b in bindings
        )

    def building_binding(self, node: ast.AST, scope: Scope | None) -> ast.AST | None:
        """For a Name: the first binding in its function that builds a string at run time."""
        if not isinstance(node, ast.Name) or scope is None:
            return None
        found = scope.lookup(node.id)
        if found is None:
            return None
        for binding in found[1]:
            if binding.kind in ("assign", "augassign") and binding.value is not None:
                value = binding.value
                if binding.kind == "augassign" and self.is_stringish(value):
                    return value
                if self.is_string_building(value):
                    return value
        return None
