"""Blocks really run on PostgreSQL: results, exact lines, chains, files, shells, output, isolation."""

from pathlib import Path

import pytest
from helpers import by_line, rules, statuses, validate, write
from skillproof.models import Status


@pytest.fixture
def run(tmp_path: Path, skillproof_provisioner):
    def run(text: str, **options):
        return validate(write(tmp_path, "doc.md", text), skillproof_provisioner, **options)

    return run


def test_a_passing_chain_with_top_level_await_on_the_database(run):
    report = run("""
        ```python
        import os

        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(os.environ["DATABASE_URL"])
        async with engine.connect() as conn:
            name = (await conn.execute(text("select current_database()"))).scalar_one()
        assert name == os.environ["PGDATABASE"]
        ```

        ```python continue
        await engine.dispose()
        ```
    """)
    assert statuses(report) == {1: Status.PASSED, 13: Status.PASSED}
    assert report.ok, report.findings


def test_failure_is_reported_at_the_exact_line_and_the_rest_is_skipped(run):
    report = run("""
        # Title

        ```python
        a = 1
        b = 0
        c = a / b
        ```

        ```python continue
        print("after")
        ```
    """)
    results = by_line(report)
    failed = results[3]
    assert (failed.status, failed.rule, failed.line) == (Status.FAILED, "RUN001", 6)
    assert failed.message == "ZeroDivisionError: division by zero"
    assert 'doc.md", line 6' in failed.details
    assert results[9].status is Status.SKIPPED and "doc.md:6" in results[9].message


def test_raises_satisfied_unsatisfied_and_wrong(run):
    report = run("""
        ```python raises=ZeroDivisionError
        1 / 0
        ```

        ```python raises=ArithmeticError
        1 / 0
        ```

        ```python raises=sqlalchemy.exc.NoResultFound
        from sqlalchemy.exc import NoResultFound
        raise NoResultFound("none")
        ```

        ```python raises=KeyError
        x = 1
        ```

        ```python raises=KeyError
        1 / 0
        ```
    """)
    results = by_line(report)
    assert [results[n].status for n in (1, 5, 9)] == [Status.PASSED] * 3
    assert (results[14].rule, results[14].status) == ("RUN002", Status.FAILED)
    assert results[18].rule == "RUN003" and "ZeroDivisionError" in results[18].message


def test_timeout_stops_the_block_and_the_next_chain_still_runs(run):
    report = run("""
        ```python timeout=1
        import time
        time.sleep(30)
        ```

        ```python continue
        print("skipped")
        ```

        ```python
        print("next chain")
        ```
    """)
    results = by_line(report)
    assert results[1].rule == "RUN004" and "1 s" in results[1].message
    assert results[6].status is Status.SKIPPED
    assert results[10].status is Status.PASSED


def test_named_chains_share_state_without_running_anything_twice(run):
    report = run("""
        ```python id=counter
        runs = []
        runs.append("first")
        ```

        ```python
        other = 1
        ```

        ```python continue=counter
        runs.append("second")
        assert runs == ["first", "second"], runs
        ```
    """)
    assert report.ok and report.count(Status.PASSED) == 3


def test_file_blocks_bash_and_sql_run_in_the_chain(run):
    report = run("""
        ```python file=app/greet.py
        def greet(name: str) -> str:
            return f"hello {name}"
        ```

        ```python continue
        from app.greet import greet
        print(greet("db"))
        ```

        ```text output
        hello db
        ```

        ```bash run continue
        test -f app/greet.py
        psql -Atc "select current_database()" | grep -q "$PGDATABASE"
        echo "from bash"
        ```

        ```text output
        from bash
        ```

        ```sql run continue
        CREATE TABLE t (id int);
        INSERT INTO t VALUES (1), (2);
        SELECT count(*) AS n FROM t;
        ```

        ```text output
         n
        ---
         2
        (1 row)
        ```
    """)
    assert report.ok, [(r.block.fence_line, r.message, r.details) for r in report.block_results]
    assert report.count(Status.PASSED) == 4


def test_output_mismatch_and_wildcards(run):
    report = run("""
        ```python
        for n in range(5):
            print(n)
        ```

        ```text output
        0
        ...
        4
        ```

        ```python
        print("actual")
        ```

        ```text output
        expected
        ```
    """)
    results = by_line(report)
    assert results[1].status is Status.PASSED
    assert (results[12].rule, results[12].line) == ("RUN005", 16)
    assert "-expected" in results[12].details and "+actual" in results[12].details


def test_errors_in_file_blocks_point_at_their_markdown_lines(run):
    report = run("""
        ```python file=app/broken.py
        def boom():
            raise RuntimeError("inside the module")
        ```

        ```python continue
        from app.broken import boom
        boom()
        ```
    """)
    failed = by_line(report)[6]
    assert failed.rule == "RUN001" and failed.line == 3
    assert 'doc.md", line 8' in failed.details and 'doc.md", line 3, in boom' in failed.details


def test_bash_failure_names_the_failing_line_and_sql_failure_its_line(run):
    report = run("""
        ```bash run
        echo one
        false
        echo never
        ```

        ```sql run
        SELECT 1;
        SELECT * FROM missing_table;
        ```
    """)
    results = by_line(report)
    assert (results[1].rule, results[1].line) == ("RUN001", 3)
    assert (results[7].rule, results[7].line) == ("RUN001", 9)
    assert "missing_table" in results[7].message


def test_two_chains_get_separate_databases(run):
    report = run("""
        ```sql run
        CREATE TABLE only_here (id int);
        ```

        ```python
        import subprocess

        out = subprocess.run(["psql", "-Atc", "select to_regclass('only_here') is null"],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "t", out
        ```
    """)
    assert report.ok, [(r.message, r.details) for r in report.block_results]


def test_undisposed_engine_is_a_finding(run):
    report = run("""
        ```python
        import os

        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(os.environ["DATABASE_URL"])
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        ```
    """)
    assert rules(report) == [("RUN006", 1)]
    assert report.count(Status.PASSED) == 1 and not report.ok


def test_sqlalchemy_deprecation_warnings_are_errors(run):
    report = run("""
        ```python
        import warnings

        from sqlalchemy.exc import SADeprecationWarning

        warnings.warn("legacy", SADeprecationWarning, stacklevel=1)
        ```
    """)
    result = by_line(report)[1]
    assert (result.rule, result.line) == ("RUN008", 6)


def test_chains_cannot_import_the_repository_checkout(run):
    report = run("""
        ```python raises=ModuleNotFoundError
        import skillproof_tests_helpers_that_do_not_exist  # noqa: F401
        ```

        ```python raises=ModuleNotFoundError
        import helpers  # noqa: F401 - the tests directory is on pytest's path, never on a chain's
        ```
    """)
    assert report.ok, [(r.message, r.details) for r in report.block_results]


def test_selecting_a_line_runs_only_that_prefix(tmp_path, skillproof_provisioner):
    path = write(
        tmp_path,
        "doc.md",
        """
        ```python id=a
        print("one")
        ```

        ```python
        raise SystemExit("other chain must not run")
        ```

        ```python continue=a
        print("two")
        ```

        ```python continue=a
        raise SystemExit("after the selected block")
        ```
    """,
    )
    report = validate(path, skillproof_provisioner, lines={10})
    assert statuses(report) == {1: Status.PASSED, 9: Status.PASSED}


def test_scratch_databases_are_dropped_after_each_chain(run, skillproof_provisioner):
    before = skillproof_provisioner.scratch_databases()
    report = run("""
        ```python
        x = 1
        ```

        ```python timeout=0.5
        import time
        time.sleep(10)
        ```
    """)
    assert report.count(Status.PASSED) == 1 and report.count(Status.FAILED) == 1
    assert skillproof_provisioner.scratch_databases() == before
