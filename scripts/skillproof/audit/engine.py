"""Entry points of the audit: sources, Markdown documents, files and directories."""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .checks import Checker
from .context import ModuleFacts, ProjectFacts, build_project_facts, gather_module_facts, merge_for_document
from .rules import RULES_BY_ID, SYNTAX_ERROR, Finding

PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
SKIP_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "site-packages",
        "dist-packages",
        "venv",
        "build",
        "dist",
        "htmlcov",
    }
)
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)


@dataclass(frozen=True)
class Snippet:
    """A piece of Python inside a larger file: its code, and where its first line sits in that file."""

    code: str
    line_offset: int = 0  # the snippet's line 1 is line line_offset + 1 of the file
    col_offset: int = 0  # columns the container stripped (a fence indented in a list item)
    logical_path: str | None = None  # classify the code as if it lived here (a file= target)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where to read it
    display: str  # how to name it in findings
    logical: str  # the path used to recognise tests and migrations (relative to the audited root)

    @property
    def is_markdown(self) -> bool:
        return self.path.suffix.lower() in MARKDOWN_SUFFIXES


# --- parsing --------------------------------------------------------------------------------


def _parse(source: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes etc. in the user's code are not our business
        return ast.parse(source)


def _syntax_finding(error: BaseException, path: str, snippet: Snippet) -> Finding:
    if isinstance(error, SyntaxError):
        line = (error.lineno or 1) + snippet.line_offset
        col = max(error.offset or 1, 1) + snippet.col_offset
        message = f"cannot parse: {error.msg}"
    elif isinstance(error, RecursionError):
        line, col, message = 1 + snippet.line_offset, 1, "cannot audit: code nested too deeply"
    else:
        line, col, message = 1 + snippet.line_offset, 1, f"cannot parse: {error}"
    return Finding(SYNTAX_ERROR, path, line, col, message, RULES_BY_ID[SYNTAX_ERROR].fix)


def noqa_codes(source: str) -> dict[int, set[str]]:
    """Line -> rule ids named in a `# noqa: ...` comment on that line. A bare `# noqa` names none."""
    codes: dict[int, set[str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return codes
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        for match in NOQA.finditer(token.string):
            if match.group("codes"):
                named = {code.upper() for code in re.split(r"[\s,]+", match.group("codes")) if code}
                codes.setdefault(token.start[0], set()).update(named)
    return codes


def _suppressed(findings: list[Finding], source: str, line_offset: int) -> list[Finding]:
    """Drop findings named by a `# noqa: DBA...` comment on one of their lines."""
    if not findings:
        return findings
    lines = source.splitlines()

    def span(finding: Finding) -> range:
        first = finding.line - line_offset
        return range(first, max(finding.end_line - line_offset, first) + 1)

    if not any("noqa" in lines[n - 1].lower() for f in findings for n in span(f) if 0 < n <= len(lines)):
        return findings  # tokenizing is the slow part: only when a reported line mentions noqa
    codes = noqa_codes(source)
    return [f for f in findings if not any(f.rule in codes.get(n, ()) for n in span(f))]


# --- sources --------------------------------------------------------------------------------


def audit_source(
    source: str,
    filename: str,
    *,
    line_offset: int = 0,
    async_context: bool | None = None,
    col_offset: int = 0,
    logical_path: str | None = None,
    project: ProjectFacts | None = None,
) -> list[Finding]:
    """Audit one Python source. Findings carry `filename` and lines shifted by `line_offset`.

    async_context: True/False forces whether the code counts as asyncio code (for DBA004); None decides
    from the imports (of `project` when given, else of this source). logical_path: classify the code
    (tests, migrations) as if it lived at that path; defaults to `filename`. project: facts gathered
    over a whole project (see `project_facts`); defaults to facts from this source alone.
    """
    snippet = Snippet(source, line_offset, col_offset, logical_path)
    return audit_snippets([snippet], filename, async_context=async_context, project=project)


def audit_snippets(
    snippets: Sequence[Snippet],
    filename: str,
    *,
    async_context: bool | None = None,
    project: ProjectFacts | None = None,
) -> list[Finding]:
    """Audit the Python pieces of one document together: imports, constants and project facts are
    shared between them (as the blocks of a Markdown chain share a namespace)."""
    parsed, findings = _prepare(snippets, filename)
    if project is None:
        project = build_project_facts([facts for _, facts in parsed])
    findings.extend(_check(parsed, filename, project, async_context))
    return sorted(findings, key=Finding.sort_key)


def _prepare(
    snippets: Sequence[Snippet], filename: str
) -> tuple[list[tuple[Snippet, ModuleFacts]], list[Finding]]:
    parsed: list[tuple[Snippet, ModuleFacts]] = []
    failures: list[Finding] = []
    for snippet in snippets:
        try:
            parsed.append((snippet, gather_module_facts(_parse(snippet.code))))
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            failures.append(_syntax_finding(error, filename, snippet))
    return parsed, failures


def _check(
    parsed: list[tuple[Snippet, ModuleFacts]],
    filename: str,
    project: ProjectFacts,
    async_context: bool | None,
) -> list[Finding]:
    findings: list[Finding] = []
    shared = merge_for_document([facts for _, facts in parsed]) if len(parsed) > 1 else None
    for snippet, facts in parsed:
        aliases, stars, constants = shared if shared else (facts.aliases, facts.stars, facts.constants)
        checker = Checker(
            facts,
            project,
            path=filename,
            logical_path=snippet.logical_path or filename,
            line_offset=snippet.line_offset,
            col_offset=snippet.col_offset,
            async_context=async_context,
            aliases=aliases,
            stars=stars,
            constants=constants,
        )
        try:
            found = checker.run()
        except RecursionError as error:
            findings.append(_syntax_finding(error, filename, snippet))
            continue
        findings.extend(_suppressed(found, snippet.code, snippet.line_offset))
    return findings


def project_facts(sources: Iterable[str]) -> ProjectFacts:
    """Facts over several Python sources (async imports, Pydantic and enum classes, type maps):
    pass the result to audit_source(project=...) to audit one file in the light of the others."""
    modules = []
    for source in sources:
        try:
            modules.append(gather_module_facts(_parse(source)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return build_project_facts(modules)


# --- Markdown -------------------------------------------------------------------------------


def markdown_snippets(text: str, *, include_raises: bool = False) -> list[Snippet]:
    """The ```python blocks of a Markdown document, with their Markdown line numbers, read by the
    validator's own parser (so both tools agree on what a block is).

    Blocks flagged `raises=...` show a failure on purpose and are left out unless include_raises.
    A `file=PATH` or `mirror=PATH` flag makes PATH the block's logical path (a migration, a test).
    """
    from ..parse_blocks import parse_document  # imported here: the .py audit needs nothing outside stdlib

    return _snippets(parse_document(Path("<markdown>"), text).blocks, include_raises=include_raises)


def _snippets(blocks: Iterable[object], *, include_raises: bool = False) -> list[Snippet]:
    snippets = []
    for block in blocks:
        flags = getattr(block, "flags", {}) or {}
        if getattr(block, "language", "") not in PYTHON_LANGUAGES or (
            "raises" in flags and not include_raises
        ):
            continue
        code, line, indent = block.code, block.code_line, getattr(block, "indent", 0)  # type: ignore[attr-defined]
        snippets.append(Snippet(code, line - 1, indent, _target(flags)))
    return snippets


def audit_blocks(
    blocks: Iterable[object], filename: str, *, async_context: bool | None = None
) -> list[Finding]:
    """Audit the validator's parsed blocks (skillproof.models.Block, or anything with `language`,
    `code`, `code_line` (1-based) and `flags`): the Python ones, except `raises=` blocks.
    A `file=PATH` or `mirror=PATH` block is judged as if it lived at PATH (a migration, a test)."""
    return audit_snippets(_snippets(blocks), filename, async_context=async_context)


def _target(flags: dict) -> str | None:
    """The path a block stands for (file= writes it, mirror= copies it): its logical path."""
    for name in ("file", "mirror"):
        value = flags.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def audit_markdown(text: str, filename: str, *, async_context: bool | None = None) -> list[Finding]:
    """Audit the ```python blocks of one Markdown document, reporting Markdown line numbers."""
    return audit_snippets(markdown_snippets(text), filename, async_context=async_context)


# --- files ----------------------------------------------------------------------------------


def _skip_dir(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))  # a virtualenv under any name


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[SourceFile]:
    """Python and Markdown files under `paths`, in a stable order. A missing path raises
    FileNotFoundError. Files named explicitly are audited whatever their directory."""
    files: list[SourceFile] = []
    seen: set[Path] = set()
    for raw in paths:
        given = Path(raw)
        if not given.exists():
            raise FileNotFoundError(str(raw))
        if given.is_file():
            base = given.resolve().parent
            candidates = [given]
        else:
            base = given.resolve()
            candidates = _walk(given)
        for path in candidates:
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            try:
                relative = resolved.relative_to(base).as_posix()
            except ValueError:
                relative = path.name
            files.append(SourceFile(path, path.as_posix(), f"{base.name}/{relative}"))
    return files


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not _skip_dir(entry):
                        stack.append(entry.path)
                elif entry.is_file() and (
                    entry.name.endswith(".py") or entry.name.endswith(tuple(MARKDOWN_SUFFIXES))
                ):
                    found.append(Path(entry.path))
            except OSError:
                continue
    return sorted(found, key=lambda p: p.as_posix())


def _read(file: SourceFile) -> str:
    data = file.path.read_bytes()
    if file.is_markdown:
        return data.decode("utf-8")
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def audit_files(files: Sequence[SourceFile], *, async_context: bool | None = None) -> list[Finding]:
    """Audit files as one project: Python files share project facts; each Markdown document is its own."""
    findings: list[Finding] = []
    python: list[tuple[SourceFile, list[tuple[Snippet, ModuleFacts]]]] = []
    for file in files:
        try:
            text = _read(file)
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            fix = RULES_BY_ID[SYNTAX_ERROR].fix
            findings.append(Finding(SYNTAX_ERROR, file.display, 1, 1, f"cannot read: {reason}", fix))
            continue
        if file.is_markdown:
            try:
                findings.extend(audit_markdown(text, file.display, async_context=async_context))
            except ImportError:
                message = "cannot audit Markdown: markdown-it-py is not installed"
                findings.append(
                    Finding(SYNTAX_ERROR, file.display, 1, 1, message, "pip install markdown-it-py")
                )
            continue
        parsed, failures = _prepare([Snippet(text, logical_path=file.logical)], file.display)
        findings.extend(failures)
        if parsed:
            python.append((file, parsed))
    project = build_project_facts([facts for _, parsed in python for _, facts in parsed])
    for file, parsed in python:
        findings.extend(_check(parsed, file.display, project, async_context))
    return sorted(findings, key=Finding.sort_key)


def audit_paths(
    paths: Iterable[str | os.PathLike[str]], *, async_context: bool | None = None
) -> list[Finding]:
    """Audit files and directories (recursively: *.py and *.md). Raises FileNotFoundError for a
    missing path."""
    return audit_files(collect_files(paths), async_context=async_context)


def filter_findings(
    findings: Iterable[Finding], select: set[str] | None, ignore: set[str] | None
) -> list[Finding]:
    """Keep findings whose rule is selected (all when select is None) and not ignored. DBA000 is
    kept unless ignored by id: a file that was not audited must not pass silently."""
    kept = []
    for finding in findings:
        if ignore and finding.rule in ignore:
            continue
        if select is not None and finding.rule not in select and finding.rule != SYNTAX_ERROR:
            continue
        kept.append(finding)
    return kept
