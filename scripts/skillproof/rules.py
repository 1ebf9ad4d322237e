"""Every finding the validator can report has a stable rule id, like ruff's.

SKL: the skill's form (Agent Skills frontmatter, size, links, layout).
BLK: the block grammar (fences, info-string flags, chains).
PY:  Python snippets that do not compile.
RUN: execution on PostgreSQL (failures, timeouts, leaks, output mismatches).
Ruff findings keep ruff's own codes (F821, B006, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Finding, Location, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    summary: str
    severity: Severity = Severity.ERROR


_RULES = [
    # --- skill form ---------------------------------------------------------------------------
    Rule("SKL001", "file-unreadable", "A Markdown file is missing, not UTF-8, or cannot be read."),
    Rule(
        "SKL101",
        "frontmatter-missing",
        "SKILL.md must start with a '---' YAML frontmatter block closed by '---'.",
    ),
    Rule(
        "SKL102", "frontmatter-yaml", "Frontmatter must be YAML that both PyYAML and a strict parser accept."
    ),
    Rule(
        "SKL103",
        "frontmatter-unknown-key",
        "Only name, description, license, compatibility, metadata and allowed-tools are allowed.",
    ),
    Rule(
        "SKL104", "frontmatter-name", "name: 1-64 chars of [a-z0-9-], no leading, trailing or double hyphen."
    ),
    Rule("SKL105", "frontmatter-description", "description: a string of 1-1024 chars with no '<' or '>'."),
    Rule(
        "SKL106",
        "frontmatter-field-type",
        "compatibility is 1-500 chars; license a string; metadata a string-to-string map; "
        "allowed-tools a string or list.",
    ),
    Rule("SKL107", "skill-body-too-long", "The SKILL.md body must be at most 500 lines."),
    Rule("SKL201", "file-not-linked", "Every workflows/ and references/ file must be linked from SKILL.md."),
    Rule(
        "SKL202",
        "broken-link",
        "A relative link must resolve, case-sensitively, to a file inside the bundle.",
    ),
    Rule(
        "SKL203", "missing-contents", "A workflow or reference over 100 lines must open with a contents list."
    ),
    Rule("SKL204", "skill-md-missing", "The bundle root must contain SKILL.md."),
    Rule(
        "SKL205",
        "file-too-large",
        "A skill file must fit what agents read in one go: at most 2,000 lines and 60,000 characters.",
    ),
    # --- block grammar --------------------------------------------------------------------------
    Rule("BLK001", "fence-without-language", "Every fenced block needs a language."),
    Rule("BLK002", "bad-flag", "A flag is unknown, malformed, or not allowed on this language."),
    Rule("BLK003", "bad-chain", "continue/id= must refer to an earlier runnable block of the same file."),
    Rule("BLK004", "orphan-output", "A 'text output' block must directly follow a block that runs."),
    Rule("BLK005", "unclosed-fence", "A fence is opened but never closed."),
    Rule("BLK006", "indented-code", "Indented code blocks have no language; use a fenced block."),
    Rule(
        "BLK007",
        "mirror-mismatch",
        "A block marked mirror=PATH must equal that file of the reference project.",
    ),
    Rule("BLK008", "norun-without-reason", 'A norun block must say why it cannot run: norun="reason".'),
    Rule(
        "BLK009",
        "not-run-on-purpose",
        'A bash or sql block must either run (run), be written to a file (file=), or say norun="reason".',
    ),
    # --- python static --------------------------------------------------------------------------
    Rule("PY001", "syntax-error", "A Python block does not compile."),
    Rule(
        "PY002",
        "ruff-unavailable",
        "ruff could not be run, so Python blocks were not linted.",
        Severity.WARNING,
    ),
    # --- execution ------------------------------------------------------------------------------
    Rule("RUN001", "block-failed", "A block raised an exception or exited non-zero."),
    Rule("RUN002", "expected-exception-missing", "A raises= block finished without raising."),
    Rule("RUN003", "wrong-exception", "A raises= block raised a different exception."),
    Rule("RUN004", "timeout", "A block ran longer than its timeout and was stopped."),
    Rule("RUN005", "output-mismatch", "The block's stdout differs from the 'text output' block after it."),
    Rule(
        "RUN006", "connections-left-open", "Connections to the chain's database were still open at its end."
    ),
    Rule("RUN007", "chain-crashed", "The process running the chain died unexpectedly."),
    Rule("RUN008", "deprecation", "A SQLAlchemy or Pydantic deprecation warning was raised."),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def finding(rule_id: str, location: Location, message: str) -> Finding:
    rule = RULES[rule_id]
    return Finding(rule=rule.id, severity=rule.severity, location=location, message=message)
