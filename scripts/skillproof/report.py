"""Stage 6: say what happened, as text (people), json (tools) or github (CI annotations).

The text report ends with the line `N passed, N failed, N skipped`; every norun block is listed, so a
block that stopped running on purpose is never silent.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .models import Block, BlockResult, Finding, Status, display_path
from .pipeline import Report
from .plan_chains import plan_document
from .run_chains import Progress

__all__ = ["render", "render_list", "ProgressLine"]


def render(report: Report, fmt: str, verbose: bool = False) -> str:
    return {"text": _text, "json": _json, "github": _github}[fmt](report, verbose)


def _failures(report: Report) -> list[BlockResult]:
    return [r for r in report.block_results if r.status is Status.FAILED]


def _where(path: Path, line: int, root: Path) -> str:
    return f"{display_path(path, root)}:{line}" if line else display_path(path, root)


def summary_line(report: Report) -> str:
    return (
        f"{report.count(Status.PASSED)} passed, {report.count(Status.FAILED)} failed, "
        f"{report.count(Status.SKIPPED)} skipped"
    )


def _text(report: Report, verbose: bool) -> str:
    root = report.root
    out: list[str] = []
    static = report.static
    runnable = sum(len(c.steps) for c in static.chains)
    head = f"{len(static.documents)} documents, {len(static.chains)} chains, {runnable} blocks to run"
    if report.server:
        head += f", on PostgreSQL {report.server.version} ({report.server.source})"
    out.append(head)

    items: list[tuple[str, int, str, str]] = []
    for f in report.findings:
        items.append(
            (
                str(f.location.path),
                f.location.line,
                f"{_where(f.location.path, f.location.line, root)}: {f.rule} {f.message}",
                "",
            )
        )
    for r in _failures(report):
        line = r.line or r.block.fence_line
        details = _relative(r.details, root)
        items.append(
            (str(r.block.path), line, f"{_where(r.block.path, line, root)}: {r.rule} {r.message}", details)
        )
    for _path, _line, text, details in sorted(items, key=lambda i: (i[0], i[1])):
        out.append(text)
        if details:
            out.extend("    " + line for line in details.splitlines())

    if verbose:
        for r in report.block_results:
            if r.status is not Status.FAILED:
                out.append(
                    f"{_where(r.block.path, r.block.fence_line, root)}: {r.status.value}"
                    f" ({r.seconds:.2f} s){' ' + r.message if r.message else ''}"
                )
    if static.norun:
        out.append(f"not run on purpose ({len(static.norun)}):")
        for block in static.norun:
            reason = block.flags.get("norun")
            out.append(
                f"  {_where(block.path, block.fence_line, root)}  "
                f"{reason if isinstance(reason, str) else '(no reason given)'}"
            )
    found = report.findings
    if found:
        out.append(f"{len(found)} finding{'s' if len(found) != 1 else ''}")
    if report.ran or not static.chains:
        out.append(f"ran in {report.seconds:.1f} s")
    else:
        out.append("blocks were not run (--static)")
    out.append(summary_line(report))
    return "\n".join(out)


def _relative(text: str, root: Path) -> str:
    return text.replace(str(root) + "/", "") if text else text


def _json(report: Report, verbose: bool) -> str:
    root = report.root

    def block_json(block: Block) -> dict:
        return {
            "path": display_path(block.path, root),
            "line": block.fence_line,
            "language": block.language,
            "flags": block.flags,
        }

    data = {
        "version": 1,
        "server": None
        if report.server is None
        else {"source": report.server.source, "version": report.server.version},
        "documents": [display_path(d.path, root) for d in report.static.documents],
        "findings": [_finding_json(f, root) for f in report.findings],
        "blocks": [
            {
                **block_json(r.block),
                "status": r.status.value,
                "seconds": round(r.seconds, 4),
                "rule": r.rule or None,
                "failed_line": (r.line or r.block.fence_line) if r.status is Status.FAILED else None,
                "message": r.message or None,
                "details": _relative(r.details, root) or None,
            }
            for r in report.block_results
        ],
        "norun": [
            {
                **block_json(b),
                "reason": b.flags.get("norun") if isinstance(b.flags.get("norun"), str) else None,
            }
            for b in report.static.norun
        ],
        "summary": {
            "passed": report.count(Status.PASSED),
            "failed": report.count(Status.FAILED),
            "skipped": report.count(Status.SKIPPED),
            "norun": len(report.static.norun),
            "findings": len(report.findings),
            "chains": len(report.static.chains),
            "seconds": round(report.seconds, 3),
            "ran": report.ran,
        },
    }
    return json.dumps(data, indent=2)


def _finding_json(f: Finding, root: Path) -> dict:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "path": display_path(f.location.path, root),
        "line": f.location.line,
        "message": f.message,
    }


def _github(report: Report, verbose: bool) -> str:
    root = report.root
    out = []

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    for f in report.findings:
        level = "error" if f.severity.value == "error" else "warning"
        line = f",line={f.location.line}" if f.location.line else ""
        out.append(
            f"::{level} file={display_path(f.location.path, root)}{line},title={f.rule}::{escape(f.message)}"
        )
    for r in _failures(report):
        body = r.message + ("\n" + _relative(r.details, root) if r.details else "")
        out.append(
            f"::error file={display_path(r.block.path, root)},line={r.line or r.block.fence_line},"
            f"title={r.rule}::{escape(body)}"
        )
    out.append(summary_line(report))
    return "\n".join(out)


def render_list(report: Report, fmt: str) -> str:
    """--list: every block with its language, flags, chain and whether it runs."""
    rows = []
    for doc in report.static.documents:
        plan = plan_document(doc)
        chain_of = {id(step.block): chain.number for chain in plan.chains for step in chain.steps}
        output_of = {
            id(step.output): step.block for chain in plan.chains for step in chain.steps if step.output
        }
        for block in doc.blocks:
            if id(block) in chain_of:
                role = "writes file" if block.file_target else "runs"
                chain = chain_of[id(block)]
            elif id(block) in output_of:
                role, chain = f"output of L{output_of[id(block)].fence_line}", None
            elif block.is_norun:
                role, chain = "norun", None
            else:
                role, chain = "shown", None
            rows.append(
                {
                    "path": display_path(block.path, report.root),
                    "line": block.fence_line,
                    "language": block.language or "-",
                    "flags": _flags_text(block.flags),
                    "chain": chain,
                    "role": role,
                }
            )
    if fmt == "json":
        return json.dumps(rows, indent=2)
    width = max([len(f"{r['path']}:{r['line']}") for r in rows] + [10])
    lines = [f"{'BLOCK':<{width}}  {'LANG':<8} {'CHAIN':<5} {'ROLE':<12} FLAGS"]
    for r in rows:
        lines.append(
            f"{r['path'] + ':' + str(r['line']):<{width}}  {r['language']:<8} "
            f"{r['chain'] if r['chain'] else '-':<5} {r['role']:<12} {r['flags']}".rstrip()
        )
    runs = sum(1 for r in rows if r["role"] in ("runs", "writes file"))
    lines.append(
        f"{len(rows)} blocks, {runs} in chains, {sum(1 for r in rows if r['role'] == 'norun')} norun"
    )
    return "\n".join(lines)


def _flags_text(flags: dict) -> str:
    import shlex

    return " ".join(
        name if value is True else f"{name}={shlex.quote(str(value))}" for name, value in flags.items()
    )


class ProgressLine:
    """One self-overwriting status line on a terminal's stderr while chains run."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = shutil.get_terminal_size((100, 20)).columns - 1

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        running = ", ".join(progress.running[:3]) + (" ..." if len(progress.running) > 3 else "")
        text = (
            f"chains {progress.done}/{progress.total} | {progress.passed} passed, {progress.failed} failed"
            f"{' | ' + running if running else ''}"
        )
        self.stream.write("\r" + text[: self.width].ljust(self.width))
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
