#!/usr/bin/env python3
"""Measure the validator: server start, scratch-database cost, throughput, and a comparison.

Prints, for this machine:
  - embedded PostgreSQL start time (first start, which may build the initdb cache, then warm starts);
  - per-chain database clone and drop time (median of --clones);
  - the whole bundle: wall time of `python scripts/validate.py`, blocks run, blocks per second;
  - on a generated corpus of database-free blocks, the wall time of this validator against
    pytest-markdown-docs (pip install -e '.[bench]'), run in the same session, and their ratio.

Figures only, no pass/fail: speed targets live here, not in the test suite.
Usage: python scripts/benchmark.py [--starts N] [--clones N] [--corpus-files N] [--blocks-per-file N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from skillproof import pg_launcher  # noqa: E402
from skillproof.provision_postgres import Provisioner  # noqa: E402


def server_starts(count: int) -> list[float]:
    """Starts with an empty initdb cache: the first one runs initdb, the others copy its template."""
    times = []
    saved = os.environ.get("SKILLPROOF_PG_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="skillproof-bench-cache-") as cache:
        os.chmod(cache, 0o755)  # as root, PostgreSQL runs as another account that must reach it
        os.environ["SKILLPROOF_PG_CACHE_DIR"] = cache
        try:
            for _ in range(count):
                started = time.perf_counter()
                server = pg_launcher.start_server()
                times.append(time.perf_counter() - started)
                server.stop()
        finally:
            if saved is None:
                os.environ.pop("SKILLPROOF_PG_CACHE_DIR", None)
            else:
                os.environ["SKILLPROOF_PG_CACHE_DIR"] = saved
    return times


def clone_times(count: int) -> tuple[list[float], list[float]]:
    creates, drops = [], []
    with Provisioner() as provisioner:
        for _ in range(count):
            started = time.perf_counter()
            database = provisioner.create_database()
            creates.append(time.perf_counter() - started)
            started = time.perf_counter()
            provisioner.drop_database(database.name)
            drops.append(time.perf_counter() - started)
    return creates, drops


def timed(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, proc


def bundle_run() -> tuple[float, str, int]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    seconds, proc = timed([sys.executable, str(HERE / "validate.py"), "--format", "json"], ROOT, env)
    import json

    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return seconds, (proc.stderr or proc.stdout).strip().splitlines()[-1:][0], 0
    summary = data["summary"]
    ran = summary["passed"] + summary["failed"]
    line = f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
    return seconds, line, ran


def write_corpus(directory: Path, files: int, blocks: int) -> None:
    """Database-free blocks both tools can run: each block stands alone (its own chain / test)."""
    for f in range(files):
        parts = [f"# Corpus {f}\n"]
        for b in range(blocks):
            parts.append(
                "```python\n"
                f"def area_{b}(width: int, height: int) -> int:\n"
                "    return width * height\n\n"
                f"values = [area_{b}(w, {b + 1}) for w in range(50)]\n"
                f"assert sum(values) == {sum(w * (b + 1) for w in range(50))}\n"
                "```\n"
            )
        (directory / f"corpus_{f:02d}.md").write_text("\n".join(parts), encoding="utf-8")


def compare(files: int, blocks: int) -> None:
    if shutil.which("pytest") is None and not (Path(sys.executable).parent / "pytest").exists():
        print("comparison skipped: pytest not installed")
        return
    try:
        import pytest_markdown_docs  # noqa: F401
    except ImportError:
        print("comparison skipped: pytest-markdown-docs not installed (pip install -e '.[bench]')")
        return
    with tempfile.TemporaryDirectory(prefix="skillproof-bench-") as tmp:
        corpus = Path(tmp)
        write_corpus(corpus, files, blocks)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        ours, ours_proc = timed([sys.executable, str(HERE / "validate.py"), "."], corpus, env)
        theirs, theirs_proc = timed(
            [
                sys.executable,
                "-m",
                "pytest",
                "--markdown-docs",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:skillproof.pytest_plugin",
                "--rootdir",
                ".",
                "-c",
                "/dev/null",
                ".",
            ],
            corpus,
            env,
        )
        total = files * blocks
        print(f"corpus: {files} files x {blocks} database-free blocks = {total} blocks")
        print(
            f"  this validator (own server, a scratch database per chain): {ours:6.2f} s "
            f"({total / ours:6.1f} blocks/s)  [{ours_proc.stdout.strip().splitlines()[-1]}]"
        )
        print(
            f"  pytest-markdown-docs (no database):                        {theirs:6.2f} s "
            f"({total / theirs:6.1f} blocks/s)  [{theirs_proc.stdout.strip().splitlines()[-1]}]"
        )
        print(f"  ratio (this / pytest-markdown-docs): {ours / theirs:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=5, help="embedded server starts to time (default 5)")
    parser.add_argument(
        "--clones", type=int, default=30, help="scratch databases to create and drop (default 30)"
    )
    parser.add_argument("--corpus-files", type=int, default=10)
    parser.add_argument("--blocks-per-file", type=int, default=20)
    parser.add_argument("--skip-bundle", action="store_true", help="do not time the whole bundle")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    binaries = pg_launcher.find_binaries()
    print(f"PostgreSQL {binaries.version} from {binaries.source}")
    starts = server_starts(args.starts)
    print(
        f"embedded server start: cold (initdb) {starts[0]:.3f} s, from the cached template median "
        f"{statistics.median(starts[1:] or starts):.3f} s (n={len(starts)})"
    )
    creates, drops = clone_times(args.clones)
    print(
        f"scratch database: create (clone of template) median {statistics.median(creates) * 1000:.1f} ms, "
        f"drop median {statistics.median(drops) * 1000:.1f} ms (n={len(creates)})"
    )
    if not args.skip_bundle:
        seconds, line, ran = bundle_run()
        rate = f"{ran / seconds:.1f} blocks/s" if ran else "n/a"
        print(f"whole bundle: {seconds:.2f} s for `python scripts/validate.py`, {ran} blocks run ({rate})")
        print(f"  {line}")
    compare(args.corpus_files, args.blocks_per_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
