"""Command line: python scripts/validate.py [PATH ...] [FILE.md:LINE ...]"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .find_documents import UsageError, find_documents
from .provision_postgres import InfrastructureError, Provisioner
from .rules import RULES

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Check the skill bundle's form and run every code block on a real PostgreSQL.

With no PATH, the whole bundle: SKILL.md, workflows/*.md, references/*.md. PATH may be a Markdown
file, a directory, or FILE.md:LINE to run just the block at LINE (after the earlier blocks of its
chain). The server is DATABASE_URL when set (its role needs CREATEDB), else a throwaway embedded
PostgreSQL that is removed at exit. Each chain runs on its own scratch database.
"""

EPILOG = """\
block grammar (info string of a fence: language, then flags):
  ```python                 runs; starts a new chain (namespace, event loop, database, directory)
  ```python continue        runs in the chain of the previous runnable block of the file
  ```python id=NAME         names its chain; ```python continue=NAME joins it later
  ```python norun="why"     not run (still compiled and linted); listed in the report
  ```python raises=NAME     must raise NAME (class name in the MRO, or a dotted path)
  ```LANG file=PATH         written into the chain's working directory instead of being run
  ```LANG mirror=PATH       must equal that file of the bundle (whole file or a contiguous excerpt);
                            with norun="..." a checked excerpt that is not run
  ```bash run / ```sql run  run with bash -euo pipefail / psql, on the chain's database
  ```text output            the previous block's expected stdout; a line '...' matches any lines
  timeout=SECONDS           per-block limit (default 30)

exit codes: 0 all good; 1 findings or failed blocks; 2 usage or infrastructure error
(e.g. PostgreSQL could not be started); 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's default prints usage first)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(prog: str = "validate.py") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="Markdown file, directory, or FILE.md:LINE")
    parser.add_argument(
        "--list",
        action="store_true",
        help="list every block with its language, flags, chain and role, then exit",
    )
    parser.add_argument("--format", choices=("text", "json", "github"), default="text", help="report format")
    parser.add_argument("--static", action="store_true", help="static checks only; do not run any block")
    parser.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=0,
        help="chains run at once (default: one per CPU, at least 2)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="default per-block time limit (default 30)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also list passed and skipped blocks")
    parser.add_argument("--list-rules", action="store_true", help="print every rule id and exit")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def main(argv: list[str] | None = None, default_root: Path | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_rules:
        for rule in RULES.values():
            print(f"{rule.id}  {rule.name:<28} {rule.summary}")
        print("ruff codes (F821, B006, ...) are reported as ruff names them")
        return EXIT_OK
    from . import pipeline, report
    from .run_chains import RunOptions

    root = default_root or Path(__file__).resolve().parents[2]
    try:
        selection = find_documents(args.paths, root)
    except UsageError as exc:
        print(f"validate.py: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not selection.documents:
        print(f"validate.py: error: no Markdown documents found under {selection.root}", file=sys.stderr)
        return EXIT_ERROR

    if args.list:
        listed = pipeline.Report(selection.root, pipeline.check_static(selection))
        print(report.render_list(listed, args.format if args.format == "json" else "text"))
        return EXIT_OK

    progress = report.ProgressLine() if args.format == "text" else None
    options = RunOptions(jobs=args.jobs, default_timeout=args.timeout, on_progress=progress)
    database_url = os.environ.get("DATABASE_URL") or None
    try:
        result = pipeline.run(selection, lambda: Provisioner(database_url), options, execute=not args.static)
    except UsageError as exc:
        print(f"validate.py: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except InfrastructureError as exc:
        _clear(progress)
        print(f"validate.py: infrastructure error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _clear(progress)
        print("validate.py: interrupted; scratch databases and the server were removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    _clear(progress)
    print(report.render(result, args.format, verbose=args.verbose))
    return EXIT_OK if result.ok else EXIT_FINDINGS


def _clear(progress) -> None:
    if progress is not None:
        progress.clear()
