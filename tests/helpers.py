"""Small helpers shared by the validator's tests: write a Markdown document, validate it."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import asyncpg
from skillproof import pipeline
from skillproof.find_documents import Selection
from skillproof.models import BlockResult, Status
from skillproof.parse_blocks import parse_document
from skillproof.run_chains import RunOptions

VALIDATE = Path(__file__).resolve().parents[1] / "scripts" / "validate.py"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def parse(text: str, name: str = "doc.md"):
    return parse_document(Path("/virtual") / name, textwrap.dedent(text).lstrip("\n"))


def validate(path: Path, provisioner=None, lines: set[int] | None = None, **options) -> pipeline.Report:
    selection = Selection(root=path.parent, documents=[path], lines={path: lines} if lines else {})
    return pipeline.run(selection, provisioner, RunOptions(**options))


def by_line(report: pipeline.Report) -> dict[int, BlockResult]:
    return {r.block.fence_line: r for r in report.block_results}


def statuses(report: pipeline.Report) -> dict[int, Status]:
    return {line: r.status for line, r in by_line(report).items()}


def rules(report_or_findings) -> list[tuple[str, int]]:
    found = report_or_findings.findings if hasattr(report_or_findings, "findings") else report_or_findings
    return [(f.rule, f.location.line) for f in found]


def query(url: str, sql: str = "select version()") -> str:
    """One value from a fresh asyncpg connection (url in libpq form, postgresql://...)."""

    async def run() -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05):
    """Poll condition() until it returns something truthy or time runs out; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()
