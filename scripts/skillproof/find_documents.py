"""Stage 1: turn command-line targets into the Markdown documents to check.

With no target, the whole bundle: SKILL.md, workflows/*.md and references/*.md. A directory means
every .md below it; `FILE.md:LINE` selects the block at that line (and the blocks of its chain
that come before it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SKILL_DIRS = ("workflows", "references")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}
_SELECTOR = re.compile(r"^(?P<path>.+\.md):(?P<line>\d+)$")


class UsageError(Exception):
    """A bad command line: exit code 2, one line."""


@dataclass
class Selection:
    root: Path  # the bundle root (holds SKILL.md)
    documents: list[Path]  # absolute, in a stable order
    lines: dict[Path, set[int]] = field(default_factory=dict)  # FILE.md:LINE selectors
    whole_bundle: bool = False  # bundle-wide checks (orphans) apply only then


def bundle_root(start: Path) -> Path:
    """The nearest directory at or above start that holds SKILL.md (or start itself)."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "SKILL.md").is_file():
            return candidate
    return start


def bundle_documents(root: Path) -> list[Path]:
    docs = [root / "SKILL.md"] if (root / "SKILL.md").exists() else []
    for sub in SKILL_DIRS:
        docs.extend(sorted((root / sub).glob("*.md")))
    return docs


def find_documents(targets: list[str], default_root: Path) -> Selection:
    if not targets:
        root = bundle_root(default_root)
        return Selection(root=root, documents=bundle_documents(root), whole_bundle=True)

    documents: list[Path] = []
    lines: dict[Path, set[int]] = {}
    whole = False
    roots: list[Path] = []
    for target in targets:
        match = _SELECTOR.match(target)
        path = Path(match["path"] if match else target)
        if not path.exists():
            raise UsageError(f"no such file or directory: {path}")
        path = path.resolve()
        if path.is_dir():
            root = bundle_root(path)
            if path == root and (root / "SKILL.md").is_file():
                found, whole = bundle_documents(root), True
            else:
                found = sorted(p for p in path.rglob("*.md") if not _SKIP_DIRS.intersection(p.parts))
            if not found:
                raise UsageError(f"no Markdown files under {target}")
            documents.extend(found)
            roots.append(root)
            continue
        if path.suffix.lower() != ".md":
            raise UsageError(f"not a Markdown file: {target}")
        documents.append(path)
        roots.append(bundle_root(path.parent))
        if match:
            lines.setdefault(path, set()).add(int(match["line"]))

    unique = list(dict.fromkeys(documents))
    return Selection(root=roots[0], documents=unique, lines=lines, whole_bundle=whole)
