"""The stages in order: find documents -> parse blocks -> plan chains -> (static checks) ->
provision PostgreSQL -> run chains -> report. The CLI and the pytest plugin both call this."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import check_form, lint_blocks
from .find_documents import Selection
from .models import (
    Block,
    BlockResult,
    Chain,
    ChainResult,
    Finding,
    Location,
    ParsedDocument,
    Severity,
    Status,
)
from .parse_blocks import read_document
from .plan_chains import plan_document
from .provision_postgres import Provisioner, ServerInfo
from .run_chains import RunOptions, run_chains


@dataclass
class StaticResult:
    root: Path
    documents: list[ParsedDocument]
    chains: list[Chain]
    norun: list[Block]
    findings: list[Finding]


@dataclass
class Report:
    root: Path
    static: StaticResult
    chain_results: list[ChainResult] = field(default_factory=list)
    server: ServerInfo | None = None
    seconds: float = 0.0
    ran: bool = False

    @property
    def block_results(self) -> list[BlockResult]:
        results = [r for chain in self.chain_results for r in chain.results]
        return sorted(results, key=lambda r: (str(r.block.path), r.block.fence_line))

    @property
    def findings(self) -> list[Finding]:
        found = list(self.static.findings)
        for chain in self.chain_results:
            found.extend(chain.findings)
        return sorted(found, key=lambda f: (str(f.location.path), f.location.line, f.rule))

    def count(self, status: Status) -> int:
        return sum(1 for r in self.block_results if r.status is status)

    @property
    def ok(self) -> bool:
        return not self.findings and self.count(Status.FAILED) == 0


def check_static(selection: Selection) -> StaticResult:
    root = selection.root
    docs = [read_document(path) for path in selection.documents]
    findings: list[Finding] = []
    chains: list[Chain] = []
    norun: list[Block] = []
    loose: list[Block] = []
    anchors = _AnchorIndex({doc.path: check_form.heading_anchors(doc) for doc in docs})  # shared by all docs
    for doc in docs:
        findings.extend(doc.findings)
        plan = plan_document(doc, selection.lines.get(doc.path))
        findings.extend(plan.findings)
        chains.extend(plan.chains)
        norun.extend(plan.norun)
        in_chain = {id(step.block) for chain in plan.chains for step in chain.steps}
        loose.extend(
            b for b in doc.blocks if id(b) not in in_chain and b.language == "python" and not b.is_excerpt
        )
        for block in doc.blocks:
            if (
                block.language == "python"
                and not block.is_excerpt
                and block.flags.get("raises") != "SyntaxError"
            ):
                problem = lint_blocks.compile_block(block)
                if problem:
                    findings.append(problem)
            mirror = lint_blocks.check_mirror(block, root)
            if mirror:
                findings.append(mirror)
        if doc.path == root / "SKILL.md":
            findings.extend(check_form.check_skill_md(doc))
        if doc.path.parent.name in ("workflows", "references") and doc.path.parent.parent == root:
            findings.extend(check_form.check_contents(doc))
            findings.extend(check_form.check_size(doc))
        findings.extend(check_form.check_links(doc, root, anchors))
    findings.extend(audit_findings(docs, root, examples=selection.whole_bundle))
    if selection.whole_bundle:
        skill = next((d for d in docs if d.path == root / "SKILL.md"), None)
        findings.extend(check_form.check_bundle(skill, root))
    if selection.lines:  # only the selected chains are linted as chains; the rest stays quiet
        loose = []
    findings.extend(lint_blocks.ruff_findings(lint_blocks.lint_units(chains, loose)))
    unique = list(dict.fromkeys(findings))
    return StaticResult(root, docs, chains, norun, unique)


def audit_findings(docs: list[ParsedDocument], root: Path, examples: bool) -> list[Finding]:
    """scripts/audit.py's rules on every Python block (failure demonstrations, raises=, excepted) and,
    for the whole bundle, on the reference project: what the skill shows must pass its own audit."""
    from . import audit

    found = []
    for doc in docs:
        blocks = [b for b in doc.blocks if not b.is_excerpt]
        for f in audit.audit_blocks(blocks, str(doc.path), async_context=True):
            found.append(
                Finding(f.rule, Severity.ERROR, Location(doc.path, f.line), f"audit: {f.message} ({f.fix})")
            )
    if examples and (root / "examples").is_dir():
        for f in audit.audit_paths([root / "examples"]):
            found.append(
                Finding(
                    f.rule, Severity.ERROR, Location(Path(f.path).resolve(), f.line), f"audit: {f.message}"
                )
            )
    return found


class _AnchorIndex(dict):
    """Anchors of parsed documents, parsing other linked Markdown files on first use."""

    def get(self, path: Path, default=None):  # type: ignore[override]
        if path not in self and path.suffix == ".md" and path.is_file():
            self[path] = check_form.heading_anchors(read_document(path))
        return super().get(path, default)


def run(
    selection: Selection,
    provisioner: Provisioner | Callable[[], Provisioner] | None = None,
    options: RunOptions | None = None,
    execute: bool = True,
) -> Report:
    """Static checks, then (when execute) every chain on PostgreSQL. Pass a started Provisioner to
    share one server across calls (pytest does), or a factory / None to own one for this call."""
    started = time.perf_counter()
    report = run_static(check_static(selection), provisioner, options, execute)
    report.seconds = time.perf_counter() - started
    return report


def run_static(
    static: StaticResult,
    provisioner: Provisioner | Callable[[], Provisioner] | None = None,
    options: RunOptions | None = None,
    execute: bool = True,
) -> Report:
    started = time.perf_counter()
    report = Report(static.root, static)
    if execute and static.chains:
        if isinstance(provisioner, Provisioner):
            _execute(report, provisioner, options)
        else:
            from .run_chains import warm_up

            warm_up()
            factory = provisioner or Provisioner
            with factory() as owned:
                _execute(report, owned, options)
    report.seconds = time.perf_counter() - started
    return report


def _execute(report: Report, provisioner: Provisioner, options: RunOptions | None) -> None:
    report.server = provisioner.info
    psql = provisioner.info.psql if provisioner.info else None
    report.chain_results = run_chains(report.static.chains, provisioner, options, psql=psql)
    report.ran = True
