"""Static checks of the code blocks: Python compiles, ruff passes, mirrors match the reference project.

A chain is linted as one module (names from earlier blocks of the chain are defined), padded with blank
lines so that ruff's line numbers are the Markdown's. Ruff runs once for the whole selection.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .models import Block, Chain, Finding, Location, Severity
from .rules import finding

# Snippets are read by people and agents who copy them: lint for real bugs and current idioms.
RUFF_SELECT = "E4,E7,E9,F,B,UP,ASYNC"
# F704/PLE1142: top-level await is allowed in blocks; E402: later blocks of a chain import as they go.
RUFF_IGNORE = "F704,PLE1142,E402"


def compile_block(block: Block) -> Finding | None:
    """Compile as the runner will: Markdown filename, Markdown line numbers, top-level await allowed."""
    try:
        compile(
            padded(block), str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
    except SyntaxError as exc:
        line = exc.lineno or block.code_line
        return finding("PY001", Location(block.path, line), f"SyntaxError: {exc.msg}")
    return None


def padded(block: Block) -> str:
    return "\n" * (block.code_line - 1) + block.code


def lint_units(chains: list[Chain], loose: list[Block]) -> list[tuple[str, list[Block]]]:
    """What ruff sees: one unit per chain (its inline python blocks), one per python file= block, one per
    python block outside any chain (norun). A unit is (label, blocks)."""
    units: list[tuple[str, list[Block]]] = []
    for chain in chains:
        inline = [
            s.block for s in chain.steps if s.block.language == "python" and s.block.file_target is None
        ]
        if inline:
            units.append((chain.label, inline))
        for step in chain.steps:
            if step.block.language == "python" and step.block.file_target is not None:
                units.append((f"{step.block.path.name}:{step.block.fence_line}", [step.block]))
    units.extend((f"{b.path.name}:{b.fence_line}", [b]) for b in loose if b.language == "python")
    return units


def ruff_findings(units: list[tuple[str, list[Block]]]) -> list[Finding]:
    units = [(label, blocks) for label, blocks in units if blocks]
    if not units:
        return []
    ruff = _ruff_command()
    if ruff is None:
        anywhere = units[0][1][0]
        return [finding("PY002", Location(anywhere.path, 0), "ruff is not installed: pip install ruff")]
    with tempfile.TemporaryDirectory(prefix="skillproof-lint-") as tmp:
        files: dict[str, list[Block]] = {}
        for n, (_label, blocks) in enumerate(units):
            name = f"u{n:04d}.py"
            (Path(tmp) / name).write_text(_join(blocks), encoding="utf-8")
            files[name] = blocks
        proc = subprocess.run(
            [
                *ruff,
                "check",
                "--isolated",
                "--no-cache",
                "--output-format",
                "json",
                "--target-version",
                "py311",
                "--select",
                RUFF_SELECT,
                "--ignore",
                RUFF_IGNORE,
                "--exit-zero",
                ".",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
            anywhere = units[0][1][0]
            return [Finding("PY002", Severity.WARNING, Location(anywhere.path, 0), f"ruff failed: {first}")]
        out = []
        for item in json.loads(proc.stdout or "[]"):
            blocks = files[Path(item["filename"]).name]
            line = item["location"]["row"]
            owner = next((b for b in blocks if b.code_line <= line < b.end_line), blocks[0])
            code = item.get("code") or "ruff"
            out.append(Finding(code, Severity.ERROR, Location(owner.path, line), f"ruff: {item['message']}"))
        return out


def _join(blocks: list[Block]) -> str:
    """Blocks of one file, each starting on its own Markdown line (they are in document order)."""
    text = ""
    for block in blocks:
        current = text.count("\n")
        text += "\n" * max(0, block.code_line - 1 - current) + block.code
    return text


def _ruff_command() -> list[str] | None:
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    if found:
        return [found]
    try:
        import ruff  # noqa: F401

        return [sys.executable, "-m", "ruff"]
    except ImportError:
        return None


def check_mirror(block: Block, root: Path) -> Finding | None:
    """mirror=PATH: the block shows a file of the reference project, whole or as a contiguous excerpt."""
    target = block.flags.get("mirror")
    if not isinstance(target, str):
        return None
    path = root / target
    if not path.is_file():
        return finding("BLK007", block.location, f"mirror={target}: no such file in the bundle")
    wanted = [line.rstrip() for line in path.read_text(encoding="utf-8").strip("\n").splitlines()]
    shown = [line.rstrip() for line in block.code.strip("\n").splitlines()]
    if shown == wanted or _contiguous(shown, wanted):
        return None
    start, same = _best_alignment(shown, wanted)
    line = block.code_line + same
    expected = wanted[start + same] if start + same < len(wanted) else "<end of file>"
    return finding(
        "BLK007",
        Location(block.path, line),
        f"block differs from {target}: line {start + same + 1} of the file reads {expected!r}",
    )


def _best_alignment(shown: list[str], wanted: list[str]) -> tuple[int, int]:
    """Where in the file the block most likely starts, and how many lines agree from there."""
    best = (0, 0)
    for start in range(len(wanted)):
        same = 0
        while same < len(shown) and start + same < len(wanted) and shown[same] == wanted[start + same]:
            same += 1
        if same > best[1]:
            best = (start, same)
    return best


def _contiguous(shown: list[str], wanted: list[str]) -> bool:
    size = len(shown)
    return size > 0 and any(wanted[i : i + size] == shown for i in range(len(wanted) - size + 1))
