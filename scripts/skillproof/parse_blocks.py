"""Stage 2: read one Markdown file into blocks, links and headings (markdown-it-py, CommonMark).

The block grammar lives here. The first word of a fence's info string is the language; the words after
it are flags, `name` or `name=value`, shell-quoted. Unknown flags, and flags on a language that does not
take them, are findings. Fences nested inside another fence (a ````markdown example) are content, not
blocks, because CommonMark says so and markdown-it-py follows it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath

import yaml
from markdown_it import MarkdownIt

from .models import Block, Finding, Location, ParsedDocument
from .rules import finding

LANGUAGE_ALIASES = {"py": "python", "python3": "python", "sh": "bash", "shell": "bash", "postgresql": "sql"}
RUNNABLE_LANGUAGES = ("python", "bash", "sql")

# Which flags each language takes. A flag's value kind: "bare" (no value), "value" (must have one),
# "either" (bare or with a value).
_CHAIN_FLAGS = {"continue": "either", "id": "value", "file": "value", "mirror": "value"}
FLAGS_BY_LANGUAGE: dict[str, dict[str, str]] = {
    "python": {**_CHAIN_FLAGS, "norun": "either", "raises": "value", "timeout": "value"},
    "bash": {**_CHAIN_FLAGS, "run": "bare", "norun": "either", "timeout": "value"},
    "sql": {**_CHAIN_FLAGS, "run": "bare", "norun": "either", "timeout": "value"},
    "text": {**_CHAIN_FLAGS, "output": "bare"},
}
_OTHER_LANGUAGE_FLAGS = dict(_CHAIN_FLAGS)

# Flags that make no sense together; the message names the pair.
_CONFLICTS = [
    ("norun", "run"),
    ("norun", "raises"),
    ("norun", "timeout"),
    ("norun", "file"),
    ("norun", "continue"),
    ("norun", "id"),
    ("file", "run"),
    ("file", "raises"),
    ("file", "timeout"),
    ("output", "file"),
    ("output", "continue"),
    ("output", "id"),
    ("output", "mirror"),
    ("id", "continue"),
]
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CLOSING_FENCE = re.compile(r"^(`{3,}|~{3,})\s*$")

_markdown = MarkdownIt("commonmark")


def read_document(path: Path) -> ParsedDocument:
    """Parse a file; unreadable input becomes a finding, never an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _empty(path, finding("SKL001", Location(path, 0), f"cannot read file: {exc.strerror or exc}"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _empty(
            path,
            finding(
                "SKL001",
                Location(path, line),
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line})",
            ),
        )
    return parse_document(path, text.removeprefix("\ufeff"))


def _empty(path: Path, problem: Finding) -> ParsedDocument:
    return ParsedDocument(path, "", [], None, 0, [], [], [], [problem])


def parse_document(path: Path, text: str) -> ParsedDocument:
    lines = text.splitlines()
    findings: list[Finding] = []
    frontmatter, fm_end = _frontmatter(path, lines, findings)
    # Blank the frontmatter out so markdown-it does not read it as a heading, and lines still match.
    body = "\n".join([""] * fm_end + lines[fm_end:]) + "\n"
    tokens = _markdown.parse(body)

    blocks: list[Block] = []
    links: list[tuple[str, int]] = []
    headings: list[tuple[int, str, int]] = []
    for i, token in enumerate(tokens):
        if token.type == "fence":
            blocks.append(_block(path, len(blocks), token, lines, findings))
        elif token.type == "code_block" and token.map:
            findings.append(
                finding(
                    "BLK006",
                    Location(path, token.map[0] + 1),
                    "indented code block: use a fenced block with a language",
                )
            )
        elif token.type == "heading_open" and token.map:
            headings.append((int(token.tag[1:]), tokens[i + 1].content, token.map[0] + 1))
        elif token.type == "inline" and token.map and token.children:
            for child in token.children:
                target = (
                    child.attrs.get("href")
                    if child.type == "link_open"
                    else (child.attrs.get("src") if child.type == "image" else None)
                )
                if isinstance(target, str):
                    links.append((target, _link_line(lines, token.map, target)))
    return ParsedDocument(path, text, lines, frontmatter, fm_end, blocks, links, headings, findings)


def _link_line(lines: list[str], span: list[int], target: str) -> int:
    """The exact line of a link inside a multi-line paragraph."""
    for number in range(span[0], span[1]):
        if f"({target}" in lines[number] or f"]: {target}" in lines[number]:
            return number + 1
    return span[0] + 1


# --- frontmatter --------------------------------------------------------------------------------


def _frontmatter(path: Path, lines: list[str], findings: list[Finding]) -> tuple[dict | None, int]:
    if not lines or lines[0].rstrip() != "---":
        return None, 0
    for end in range(1, len(lines)):
        if lines[end].rstrip() in ("---", "..."):
            break
    else:
        findings.append(finding("SKL101", Location(path, 1), "frontmatter opened with '---' is never closed"))
        return None, 0
    source = "\n".join(lines[1:end]) + "\n"
    data = _load_yaml(path, source, findings)
    if data is not None and not isinstance(data, dict):
        findings.append(finding("SKL102", Location(path, 2), "frontmatter must be a YAML mapping"))
        data = None
    return data, end + 1


def _load_yaml(path: Path, source: str, findings: list[Finding]) -> dict | None:
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        findings.append(finding("SKL102", Location(path, line), f"frontmatter is not valid YAML: {problem}"))
        return None
    try:  # A strict parser too: some agent clients reject what PyYAML forgives (flow style, duplicates).
        import strictyaml

        strictyaml.load(source)
    except ImportError:  # pragma: no cover - strictyaml is a declared dependency
        pass
    except Exception as exc:  # strictyaml raises its own hierarchy
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        problem = (getattr(exc, "problem", None) or str(exc).splitlines()[-1]).strip()
        findings.append(
            finding(
                "SKL102", Location(path, line), f"frontmatter rejected by a strict YAML parser: {problem}"
            )
        )
    return data


# --- fences -------------------------------------------------------------------------------------


def _block(path: Path, index: int, token, lines: list[str], findings: list[Finding]) -> Block:
    start, end = token.map  # 0-based, end exclusive
    fence_line = start + 1
    closed = end - 1 > start and _is_closing(lines[end - 1], token.markup)
    if not closed:
        findings.append(
            finding("BLK005", Location(path, fence_line), f"fence {token.markup} opened here is never closed")
        )
    language, flags = parse_info(token.info, Location(path, fence_line), findings)
    return Block(
        path=path,
        index=index,
        fence_line=fence_line,
        code_line=fence_line + 1,
        end_line=end,
        language=language,
        flags=flags,
        code=token.content,
        indent=_indent(lines, start + 1, token.content),
    )


def _indent(lines: list[str], first: int, content: str) -> int:
    """Where the first non-blank content line starts in the raw Markdown line."""
    for offset, text in enumerate(content.splitlines()):
        if text.strip() and first + offset < len(lines):
            return max(lines[first + offset].find(text), 0)
    return 0


def _is_closing(line: str, markup: str) -> bool:
    # Strip container prefixes (blockquote markers, list indentation) before matching.
    stripped = line.lstrip()
    while stripped.startswith(">"):
        stripped = stripped[1:].lstrip()
    match = _CLOSING_FENCE.match(stripped)
    return bool(match and match[1][0] == markup[0] and len(match[1]) >= len(markup))


def parse_info(info: str, where: Location, findings: list[Finding]) -> tuple[str, dict[str, str | bool]]:
    """Split an info string into (language, flags), reporting every grammar violation."""
    try:
        words = shlex.split(info)
    except ValueError as exc:
        findings.append(finding("BLK002", where, f"cannot parse info string {info!r}: {exc}"))
        return info.split()[0].lower() if info.split() else "", {}
    if not words:
        findings.append(
            finding("BLK001", where, "fence has no language (write ```python, ```bash, ```text, ...)")
        )
        return "", {}
    language = LANGUAGE_ALIASES.get(words[0].lower(), words[0].lower())
    allowed = FLAGS_BY_LANGUAGE.get(language, _OTHER_LANGUAGE_FLAGS)
    flags: dict[str, str | bool] = {}
    for word in words[1:]:
        name, has_value, value = word.partition("=")
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            findings.append(
                finding("BLK002", where, f"unknown flag {name!r} for {language} (allowed: {known})")
            )
            continue
        if name in flags:
            findings.append(finding("BLK002", where, f"flag {name!r} given twice"))
            continue
        kind = allowed[name]
        if kind == "bare" and has_value:
            findings.append(finding("BLK002", where, f"flag {name!r} takes no value"))
            continue
        if kind == "value" and not value:
            findings.append(finding("BLK002", where, f"flag {name!r} needs a value: {name}=..."))
            continue
        problem = _check_value(name, value) if value else None
        if problem:
            findings.append(finding("BLK002", where, problem))
            continue
        flags[name] = value if has_value else True
    for a, b in _CONFLICTS:
        if a in flags and b in flags:
            findings.append(finding("BLK002", where, f"flags {a!r} and {b!r} cannot be combined"))
    return language, flags


def _check_value(name: str, value: str) -> str | None:
    if name == "timeout":
        try:
            seconds = float(value)
        except ValueError:
            return f"timeout must be a number of seconds, not {value!r}"
        return None if 0 < seconds <= 3600 else f"timeout must be between 0 and 3600 seconds, not {value}"
    if name in ("id", "continue") and not _NAME.match(value):
        return f"{name} name {value!r} may only hold letters, digits, '_', '-' and '.'"
    if name == "raises" and not _DOTTED.match(value):
        return f"raises needs an exception class name or dotted path, not {value!r}"
    if name in ("file", "mirror"):
        pure = PurePosixPath(value)
        if pure.is_absolute() or ".." in pure.parts or "\\" in value:
            return f"{name} path must be relative, use '/', and stay inside its directory: {value!r}"
    return None
