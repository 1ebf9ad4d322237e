"""Command line of the audit: `python scripts/audit.py PATH... [--format text|json] ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import NoReturn

from .engine import audit_files, collect_files, filter_findings
from .rules import RULES, Finding, resolve_rule_selector

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
JSON_VERSION = 1

DESCRIPTION = """\
Find known pitfalls of SQLAlchemy 2.x async (asyncpg), Pydantic v2 and Alembic on PostgreSQL,
statically: Python files are parsed with ast (nothing is imported or run), and so are the ```python
blocks of Markdown files, with Markdown line numbers (blocks flagged raises=... show a failure on
purpose and are skipped; a block flagged file=PATH or mirror=PATH is judged as if it lived at PATH).
Directories are searched for *.py and *.md, skipping hidden directories, virtualenvs, site-packages,
node_modules, __pycache__, build, dist and *.egg-info. Audit the whole project at once: some rules
use facts from other files (async imports, Pydantic and enum classes, the Base's type_annotation_map)."""


OUTPUT_FORMATS = """\
  text  one line per finding, `path:line:col: RULE message. Fix: fix` (line and col 1-based, sorted by
        path, line, col, rule), then a count line
  json  {"version": 1, "findings": [{"rule", "name", "path", "line", "col", "message", "fix"}, ...],
         "summary": {"files", "files_with_findings", "findings", "by_rule": {RULE: count}}}
"""


def _epilog() -> str:
    rules = "\n".join(f"  {rule.id}  {rule.name:<32} {rule.summary}" for rule in RULES)
    return f"""\
rules (--list-rules shows each fix):
{rules}

how code is recognised:
  async code    all audited Python files count as async (for DBA004) when any of them imports
                sqlalchemy.ext.asyncio (AsyncSession, create_async_engine, async_sessionmaker,
                AsyncAttrs ...); each Markdown document is judged on its own blocks
  test code     (exempt from DBA017) a file named test_*.py, *_test.py or conftest.py, a file under a
                tests/, test/ or testing/ directory (below the audited path), or a module importing
                pytest or unittest; code inside `with pytest.raises(...)` is exempt from every rule
  migrations    (DBA015, DBA016; DBA002 is skipped there) a file under a versions/ directory, or a
                module doing `from alembic import op`

output:
{OUTPUT_FORMATS}
suppressing a finding:
  put `# noqa: DBA003` (several: `# noqa: DBA003, DBA014`) on the reported line, or on any line of
  the flagged expression. A bare `# noqa` does not silence the audit: it is usually meant for
  another linter. A syntax error (DBA000) is reported even under --select; --ignore DBA000 hides it.

exit status:
  0  no findings
  1  findings (DBA000 included: a file that cannot be parsed is reported, not skipped)
  2  usage error: unknown option or rule, no such file
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="audit",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="Python or Markdown files, or directories")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--select",
        metavar="RULES",
        action="append",
        help="only these rules: comma-separated ids (DBA003), prefixes (DBA01), names or ALL",
    )
    parser.add_argument("--ignore", metavar="RULES", action="append", help="skip these rules (same syntax)")
    parser.add_argument("--list-rules", action="store_true", help="print every rule with its fix, and exit")
    return parser


def _rule_set(parser: argparse.ArgumentParser, values: list[str] | None) -> set[str] | None:
    if values is None:
        return None
    selected: set[str] = set()
    for value in values:
        for token in value.split(","):
            try:
                selected |= resolve_rule_selector(token)
            except ValueError:
                parser.error(f"unknown rule: {token.strip()}")
    return selected


def _list_rules(fmt: str) -> str:
    if fmt == "json":
        rules = [{"id": r.id, "name": r.name, "summary": r.summary, "fix": r.fix} for r in RULES]
        return json.dumps(rules, indent=2) + "\n"
    lines = []
    for rule in RULES:
        lines.append(f"{rule.id}  {rule.name}")
        lines.extend(textwrap.wrap(rule.summary, 100, initial_indent="    ", subsequent_indent="    "))
        lines.extend(
            textwrap.wrap(f"fix: {rule.fix}", 100, initial_indent="    ", subsequent_indent="      ")
        )
    return "\n".join(lines) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render(findings: Sequence[Finding], files_audited: int, fmt: str) -> str:
    with_findings = len({f.path for f in findings})
    if fmt == "json":
        document = {
            "version": JSON_VERSION,
            "findings": [f.to_dict() for f in findings],
            "summary": {
                "files": files_audited,
                "files_with_findings": with_findings,
                "findings": len(findings),
                "by_rule": dict(sorted(Counter(f.rule for f in findings).items())),
            },
        }
        return json.dumps(document, indent=2) + "\n"
    lines = [f.format_text() for f in findings]
    audited = _plural(files_audited, "file") + " audited"
    if findings:
        lines.append(
            f"Found {_plural(len(findings), 'finding')} in {_plural(with_findings, 'file')} ({audited})."
        )
    else:
        lines.append(f"No findings ({audited}).")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    select = _rule_set(parser, args.select)
    ignore = _rule_set(parser, args.ignore)
    try:
        if args.list_rules:
            sys.stdout.write(_list_rules(args.format))
            return EXIT_CLEAN
        if not args.paths:
            parser.error("no paths given")
        try:
            files = collect_files(args.paths)
        except FileNotFoundError as missing:
            parser.exit(EXIT_USAGE, f"{parser.prog}: error: no such file: {missing}\n")
        findings = filter_findings(audit_files(files), select, ignore)
        sys.stdout.write(render(findings, len(files), args.format))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (audit.py . | head); keep quiet like other command-line tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FINDINGS
    except KeyboardInterrupt:
        sys.stderr.write(f"{parser.prog}: interrupted\n")
        return 130
    return EXIT_FINDINGS if findings else EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
