"""Plain data passed between the pipeline stages.

find_documents -> Document paths; parse_blocks -> ParsedDocument (Blocks + Findings);
plan_chains -> Chains; provision_postgres -> Database; run_chains -> BlockResults; report.
Every stage reads these and returns new ones; nothing is mutated downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    path: Path  # absolute
    line: int  # 1-based; 0 means "the whole file"

    def display(self, root: Path | None = None) -> str:
        return f"{display_path(self.path, root)}:{self.line}" if self.line else display_path(self.path, root)


def display_path(path: Path, root: Path | None = None) -> str:
    """A path relative to the working directory (or root) when it is below it, else absolute."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()


@dataclass(frozen=True)
class Finding:
    rule: str  # e.g. "SKL101", "BLK002", "F821" (ruff), "RUN001"
    severity: Severity
    location: Location
    message: str


@dataclass(frozen=True)
class Block:
    """One fenced code block, exactly as written in the Markdown."""

    path: Path
    index: int  # position among the document's fences, 0-based
    fence_line: int  # 1-based line of the opening fence
    code_line: int  # 1-based line of the first line of content
    end_line: int  # 1-based line of the closing fence (or last line if unclosed)
    language: str  # first word of the info string, lower-cased; "" when missing
    flags: dict[str, str | bool]  # bare flags map to True
    code: str
    indent: int = 0  # columns the container (list item, blockquote) takes before the code

    @property
    def location(self) -> Location:
        return Location(self.path, self.fence_line)

    # --- what the grammar makes of the flags -------------------------------------------------
    @property
    def is_norun(self) -> bool:
        return "norun" in self.flags

    @property
    def is_excerpt(self) -> bool:
        """norun + mirror=: a view of a reference-project file, checked against it but not run (the file
        itself is linted, audited and tested with the project)."""
        return self.is_norun and isinstance(self.flags.get("mirror"), str)

    @property
    def file_target(self) -> str | None:
        value = self.flags.get("file")
        return value if isinstance(value, str) else None

    @property
    def is_output(self) -> bool:
        return self.language == "text" and "output" in self.flags

    @property
    def executes(self) -> bool:
        """True when the validator runs this block's code (as opposed to writing or showing it)."""
        if self.is_norun or self.file_target is not None:
            return False
        if self.language == "python":
            return True
        return self.language in ("bash", "sql") and self.flags.get("run") is True

    @property
    def in_chain(self) -> bool:
        """Blocks that belong to a chain: executed ones and file= ones."""
        return self.executes or (self.file_target is not None and not self.is_norun)

    @property
    def timeout(self) -> float | None:
        value = self.flags.get("timeout")
        return float(value) if isinstance(value, str) else None


@dataclass
class ParsedDocument:
    path: Path
    text: str
    lines: list[str]
    frontmatter: dict | None
    frontmatter_end: int  # 1-based line of the closing '---'; 0 when there is no frontmatter
    blocks: list[Block]
    links: list[tuple[str, int]]  # (target, line) for every Markdown link and image
    headings: list[tuple[int, str, int]]  # (level, text, line)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """A block in a chain, with the expected-output block that follows it, if any."""

    block: Block
    output: Block | None = None


@dataclass(frozen=True)
class Chain:
    path: Path
    number: int  # 1-based position of the chain in its document
    name: str | None  # the id= that named it, if any
    steps: tuple[Step, ...]

    @property
    def first_line(self) -> int:
        return self.steps[0].block.fence_line

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.first_line}"


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NORUN = "norun"


@dataclass(frozen=True)
class BlockResult:
    block: Block
    status: Status
    seconds: float = 0.0
    message: str = ""  # one line: why it failed, or what it was skipped for
    details: str = ""  # traceback or captured output, mapped to Markdown lines
    rule: str = ""  # the RUN rule for failures
    line: int = 0  # the Markdown line that failed (defaults to the fence line)


@dataclass(frozen=True)
class ChainResult:
    chain: Chain
    results: tuple[BlockResult, ...]
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0
