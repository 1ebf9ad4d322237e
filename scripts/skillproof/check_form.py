"""Static checks of the skill's form: Agent Skills frontmatter, size, links, contents lists.

The Agent Skills specification allows six frontmatter keys and limits name and description; clients
silently drop skills that break these rules, so a break is an error here, with its line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .find_documents import SKILL_DIRS
from .models import Finding, Location, ParsedDocument
from .rules import finding

ALLOWED_KEYS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
MAX_BODY_LINES = 500
CONTENTS_THRESHOLD = 100  # lines; longer workflows and references open with a contents list
CONTENTS_WINDOW = 40  # the contents list must start within this many lines
# Agents' file readers stop at 2,000 lines by default, and harnesses truncate long files; a file past
# either limit is silently read in part.
MAX_FILE_LINES = 2000
MAX_FILE_CHARS = 60_000
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def check_skill_md(doc: ParsedDocument) -> list[Finding]:
    """Frontmatter and size rules for SKILL.md itself."""
    where = Location(doc.path, 1)
    if doc.frontmatter_end == 0:
        if any(f.rule in ("SKL101", "SKL001") for f in doc.findings):
            return []  # already reported (unclosed, unreadable)
        return [
            finding("SKL101", where, "SKILL.md must start with '---' YAML frontmatter (name, description)")
        ]
    data = doc.frontmatter
    if data is None:
        return []  # the YAML error is already a finding
    out: list[Finding] = []

    def at(key: str) -> Location:
        for number, line in enumerate(doc.lines[1 : doc.frontmatter_end], start=2):
            if line.startswith(f"{key}:"):
                return Location(doc.path, number)
        return where

    for key in data:
        if key not in ALLOWED_KEYS:
            out.append(
                finding(
                    "SKL103",
                    at(str(key)),
                    f"frontmatter key {key!r} is not in the Agent Skills spec ({', '.join(ALLOWED_KEYS)})",
                )
            )
    name = data.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not _NAME.match(name):
        out.append(
            finding(
                "SKL104",
                at("name"),
                f"name must be 1-64 chars of [a-z0-9-] without leading, trailing or double hyphens, "
                f"got {name!r}",
            )
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        out.append(finding("SKL105", at("description"), "description must be a non-empty string"))
    elif len(description) > 1024:
        out.append(
            finding("SKL105", at("description"), f"description is {len(description)} chars (max 1024)")
        )
    elif "<" in description or ">" in description:
        out.append(finding("SKL105", at("description"), "description must not contain '<' or '>'"))
    if "compatibility" in data:
        value = data["compatibility"]
        if not isinstance(value, str) or not 1 <= len(value) <= 500:
            out.append(
                finding("SKL106", at("compatibility"), "compatibility must be a string of 1-500 chars")
            )
    if "license" in data and not isinstance(data["license"], str):
        out.append(finding("SKL106", at("license"), "license must be a string"))
    if "metadata" in data:
        value = data["metadata"]
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            out.append(
                finding("SKL106", at("metadata"), "metadata must map strings to strings (quote numbers)")
            )
    if "allowed-tools" in data:
        value = data["allowed-tools"]
        if not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            out.append(
                finding("SKL106", at("allowed-tools"), "allowed-tools must be a string or a list of strings")
            )
    body = len(doc.lines) - doc.frontmatter_end
    if body > MAX_BODY_LINES:
        out.append(
            finding(
                "SKL107",
                Location(doc.path, doc.frontmatter_end + MAX_BODY_LINES + 1),
                f"SKILL.md body is {body} lines (max {MAX_BODY_LINES}); move detail into references/",
            )
        )
    return out


def check_links(doc: ParsedDocument, root: Path, anchors: dict[Path, set[str]]) -> list[Finding]:
    """Every relative link resolves, case-sensitively, to a file inside the bundle (and its anchor exists)."""
    out: list[Finding] = []
    for target, line in doc.links:
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith("//"):
            continue  # external
        where = Location(doc.path, line)
        path_part, fragment = unquote(parts.path), unquote(parts.fragment)
        resolved = doc.path if not path_part else (doc.path.parent / path_part)
        normal = Path(os.path.normpath(resolved))
        if not _inside(normal, root):
            out.append(finding("SKL202", where, f"link {target!r} points outside the bundle"))
            continue
        problem = _case_sensitive_problem(normal, root)
        if problem:
            out.append(finding("SKL202", where, f"link {target!r}: {problem}"))
            continue
        if fragment and normal.suffix == ".md" and normal.is_file():
            known = anchors.get(normal)
            if known is not None and fragment.lower() not in known:
                out.append(finding("SKL202", where, f"link {target!r}: no heading with anchor #{fragment}"))
    return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _case_sensitive_problem(path: Path, root: Path) -> str | None:
    """Checked name by name, so that a link working on macOS' case-insensitive disk fails here too."""
    current = root
    for name in path.relative_to(root).parts:
        try:
            entries = os.listdir(current)
        except OSError:
            return f"{current.relative_to(root).as_posix() or '.'} is not a directory"
        if name not in entries:
            twin = next((e for e in entries if e.lower() == name.lower()), None)
            rel = (current / name).relative_to(root).as_posix()
            return (
                f"{rel} does not exist (did you mean {twin!r}? case matters)"
                if twin
                else f"{rel} does not exist"
            )
        current = current / name
    return None


def heading_anchors(doc: ParsedDocument) -> set[str]:
    """GitHub-style anchors: lower-case, punctuation dropped, spaces to hyphens, -1/-2 for repeats."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for _level, text, _line in doc.headings:
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def check_contents(doc: ParsedDocument) -> list[Finding]:
    """A workflow or reference over 100 lines opens with a contents list: a 'Contents' heading, or
    at least three links to its own headings, within the first lines."""
    if len(doc.lines) <= CONTENTS_THRESHOLD:
        return []
    limit = doc.frontmatter_end + CONTENTS_WINDOW
    has_heading = any(line <= limit and "contents" in text.lower() for _lvl, text, line in doc.headings)
    own_links = sum(1 for target, line in doc.links if target.startswith("#") and line <= limit)
    if has_heading or own_links >= 3:
        return []
    return [
        finding(
            "SKL203",
            Location(doc.path, 1),
            f"{len(doc.lines)} lines and no contents list in the first {CONTENTS_WINDOW} lines",
        )
    ]


def check_size(doc: ParsedDocument) -> list[Finding]:
    lines, chars = len(doc.lines), len(doc.text)
    if lines <= MAX_FILE_LINES and chars <= MAX_FILE_CHARS:
        return []
    return [
        finding(
            "SKL205",
            Location(doc.path, min(lines, MAX_FILE_LINES + 1) if lines > MAX_FILE_LINES else 1),
            f"{lines} lines, {chars} characters (limits {MAX_FILE_LINES} and {MAX_FILE_CHARS}): "
            "agents would read it in part; split it or tighten it",
        )
    ]


def check_bundle(skill: ParsedDocument | None, root: Path) -> list[Finding]:
    """Bundle-wide: SKILL.md exists and links every workflow and reference (one level deep)."""
    if skill is None:
        return [finding("SKL204", Location(root / "SKILL.md", 0), "the bundle has no SKILL.md")]
    linked = set()
    for target, _line in skill.links:
        parts = urlsplit(target)
        if not parts.scheme and parts.path:
            linked.add(Path(os.path.normpath(root / unquote(parts.path))))
    out = []
    for sub in SKILL_DIRS:
        for path in sorted((root / sub).glob("*.md")):
            if path not in linked:
                rel = path.relative_to(root).as_posix()
                out.append(finding("SKL201", Location(path, 1), f"{rel} is not linked from SKILL.md"))
    return out
