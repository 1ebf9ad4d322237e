"""How blocks group into chains, and what the planner refuses."""

import pytest
from helpers import parse
from skillproof.find_documents import UsageError
from skillproof.plan_chains import plan_document


def shape(plan):
    return [
        [(s.block.fence_line, s.output.fence_line if s.output else None) for s in c.steps]
        for c in plan.chains
    ]


def test_each_python_block_starts_a_chain_and_continue_joins_the_previous():
    plan = plan_document(
        parse("""
        ```python
        a = 1
        ```

        ```python continue
        b = a
        ```

        ```python
        c = 1
        ```
    """)
    )
    assert shape(plan) == [[(1, None), (5, None)], [(9, None)]]
    assert plan.findings == []


def test_named_chains_can_be_continued_later_even_across_other_chains():
    plan = plan_document(
        parse("""
        ```python id=models
        a = 1
        ```

        ```python
        other = 1
        ```

        ```python continue=models
        b = a
        ```

        ```python continue
        c = b
        ```
    """)
    )
    assert shape(plan) == [[(1, None), (9, None), (13, None)], [(5, None)]]
    assert plan.chains[0].name == "models"


def test_output_attaches_to_the_block_before_it():
    plan = plan_document(
        parse("""
        ```python
        print(1)
        ```

        Some prose.

        ```text output
        1
        ```
    """)
    )
    assert shape(plan) == [[(1, 7)]]


def test_output_without_a_runnable_block_before_it():
    plan = plan_document(
        parse("""
        ```python norun="shown only"
        print(1)
        ```

        ```text output
        1
        ```

        ```text output
        2
        ```
    """)
    )
    assert [(f.rule, f.location.line) for f in plan.findings] == [("BLK004", 5), ("BLK004", 9)]


def test_bad_chains_are_findings():
    plan = plan_document(
        parse("""
        ```python continue
        x = 1
        ```

        ```python continue=nowhere
        x = 1
        ```

        ```python id=a
        x = 1
        ```

        ```python id=a
        x = 1
        ```
    """)
    )
    assert [(f.rule, f.location.line) for f in plan.findings] == [
        ("BLK003", 1),
        ("BLK003", 5),
        ("BLK003", 13),
    ]
    assert "nothing" in plan.findings[0].message or "no runnable" in plan.findings[0].message


def test_norun_needs_a_reason_and_is_listed():
    plan = plan_document(
        parse("""
        ```python norun
        x = 1
        ```

        ```python norun="needs PgBouncer"
        x = 1
        ```
    """)
    )
    assert [(f.rule, f.location.line) for f in plan.findings] == [("BLK008", 1)]
    assert [b.fence_line for b in plan.norun] == [1, 5]
    assert plan.chains == []


def test_bash_and_sql_must_run_or_say_why():
    plan = plan_document(
        parse("""
        ```bash
        alembic upgrade head
        ```

        ```bash run
        echo ok
        ```

        ```sql norun="runs as a superuser"
        ALTER SYSTEM SET jit = off;
        ```

        ```toml
        shown = true
        ```
    """)
    )
    assert [(f.rule, f.location.line) for f in plan.findings] == [("BLK009", 1)]
    assert shape(plan) == [[(5, None)]]


def test_file_blocks_start_chains_and_continue_them():
    plan = plan_document(
        parse("""
        ```ini file=alembic.ini
        [alembic]
        ```

        ```python file=app/models.py continue
        X = 1
        ```

        ```bash run continue
        cat alembic.ini
        ```
    """)
    )
    assert shape(plan) == [[(1, None), (5, None), (9, None)]]


def test_selecting_a_line_keeps_its_chain_up_to_that_block():
    doc = parse("""
        ```python id=a
        a = 1
        ```

        ```python
        other = 1
        ```

        ```python continue=a
        b = 2
        ```

        ```python continue=a
        c = 3
        ```
    """)
    plan = plan_document(doc, {10})
    assert shape(plan) == [[(1, None), (9, None)]]
    with pytest.raises(UsageError, match="no runnable block"):
        plan_document(doc, {4})
