"""Static audit of SQLAlchemy / asyncpg / Pydantic / Alembic code for known pitfalls.

Function API (the validator and tests call these; the CLI is `scripts/audit.py`):

    audit_source(source, filename, *, line_offset=0, async_context=None, ...) -> list[Finding]
    audit_snippets(snippets, filename, *, async_context=None, project=None) -> list[Finding]
    audit_markdown(text, filename, *, async_context=None) -> list[Finding]
    audit_blocks(blocks, filename, *, async_context=None) -> list[Finding]   # validator Blocks
    audit_paths(paths, *, async_context=None) -> list[Finding]

Everything is read with `ast`; no user code is imported or run.
"""

from .engine import (
    Snippet,
    SourceFile,
    audit_blocks,
    audit_files,
    audit_markdown,
    audit_paths,
    audit_snippets,
    audit_source,
    collect_files,
    filter_findings,
    markdown_snippets,
    project_facts,
)
from .rules import RULES, RULES_BY_ID, Finding, Rule

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "Rule",
    "Snippet",
    "SourceFile",
    "audit_blocks",
    "audit_files",
    "audit_markdown",
    "audit_paths",
    "audit_snippets",
    "audit_source",
    "collect_files",
    "filter_findings",
    "markdown_snippets",
    "project_facts",
]
