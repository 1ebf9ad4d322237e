"""Python blocks compile at their Markdown lines; ruff sees a chain as one module; mirrors agree."""

from pathlib import Path

from helpers import parse, rules, write
from skillproof import lint_blocks
from skillproof.plan_chains import plan_document


def test_syntax_errors_are_reported_at_the_markdown_line():
    doc = parse("""
        # T

        ```python
        x = 1
        def broken(:
            pass
        ```
    """)
    problem = lint_blocks.compile_block(doc.blocks[0])
    assert (problem.rule, problem.location.line) == ("PY001", 5)


def test_top_level_await_compiles():
    doc = parse("```python\nimport asyncio\nawait asyncio.sleep(0)\n```\n")
    assert lint_blocks.compile_block(doc.blocks[0]) is None


def test_ruff_lints_a_chain_as_one_module():
    doc = parse("""
        ```python id=a
        import asyncio
        value = 1
        ```

        ```python continue
        await asyncio.sleep(value)
        print(undefined_here)
        ```

        ```python
        print(value)
        ```
    """)
    plan = plan_document(doc)
    found = lint_blocks.ruff_findings(lint_blocks.lint_units(plan.chains, []))
    # Names from the first block are defined in the second; the third is its own chain.
    assert sorted(rules(found)) == [("F821", 8), ("F821", 12)]


def test_file_blocks_are_linted_as_their_own_modules():
    doc = parse("""
        ```python file=app/models.py
        import os
        ```

        ```python continue
        print(os)
        ```
    """)
    plan = plan_document(doc)
    found = lint_blocks.ruff_findings(lint_blocks.lint_units(plan.chains, []))
    assert sorted(rules(found)) == [("F401", 2), ("F821", 6)]


def test_mirror_whole_file_excerpt_and_drift(tmp_path: Path):
    write(tmp_path, "examples/app/db.py", "import os\n\nURL = os.environ['DATABASE_URL']\nPOOL = 5\n")
    doc = parse("""
        ```python mirror=examples/app/db.py
        import os

        URL = os.environ['DATABASE_URL']
        POOL = 5
        ```

        ```python mirror=examples/app/db.py
        URL = os.environ['DATABASE_URL']
        POOL = 5
        ```

        ```python mirror=examples/app/db.py
        URL = os.environ['DATABASE_URL']
        POOL = 10
        ```

        ```python mirror=examples/app/missing.py
        x = 1
        ```
    """)
    found = [lint_blocks.check_mirror(b, tmp_path) for b in doc.blocks]
    assert found[0] is None and found[1] is None
    assert (found[2].rule, found[2].location.line) == ("BLK007", 15)
    assert "POOL = 5" in found[2].message
    assert found[3].rule == "BLK007" and "no such file" in found[3].message


def test_the_audit_runs_on_python_blocks_except_failure_demonstrations(tmp_path: Path):
    from skillproof.find_documents import Selection
    from skillproof.pipeline import check_static

    doc = write(
        tmp_path,
        "doc.md",
        """
        ```python
        from sqlalchemy import DateTime

        created = DateTime()
        ```

        ```python raises=ZeroDivisionError
        from sqlalchemy import DateTime

        created = DateTime()
        1 / 0
        ```

        ```python
        from sqlalchemy import DateTime

        created = DateTime()  # noqa: DBA003 - shown on purpose
        ```
    """,
    )
    static = check_static(Selection(root=tmp_path, documents=[doc]))
    assert [(f.rule, f.location.line) for f in static.findings if f.rule.startswith("DBA")] == [("DBA003", 4)]


def test_a_norun_mirror_is_a_checked_excerpt_not_linted_as_a_module(tmp_path: Path):
    from skillproof.find_documents import Selection
    from skillproof.pipeline import check_static

    write(
        tmp_path,
        "examples/app/repo.py",
        "class Repo:\n    async def get(self, key):\n        return await load(key)\n",
    )
    doc = write(
        tmp_path,
        "doc.md",
        """
        ```python norun="excerpt of the project's repository" mirror=examples/app/repo.py
            async def get(self, key):
                return await load(key)
        ```

        ```python norun="excerpt" mirror=examples/app/repo.py
            async def get(self, key):
                return await fetch(key)
        ```
    """,
    )
    static = check_static(Selection(root=tmp_path, documents=[doc]))
    assert [(f.rule, f.location.line) for f in static.findings] == [("BLK007", 8)]
    assert static.chains == [] and len(static.norun) == 2
