"""The command line as a user meets it: exit codes, one-line errors, formats, selection."""

import json
from pathlib import Path

import pytest
from helpers import write

GOOD = """
```python
print("hello")
```

```text output
hello
```
"""


def assert_one_line_error(proc, *needles):
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_help_documents_the_grammar_and_exit_codes(cli):
    proc = cli("--help")
    assert proc.returncode == 0
    for text in ("FILE.md:LINE", "raises=NAME", "continue=NAME", "text output", "exit codes", "--list"):
        assert text in proc.stdout


def test_usage_errors_exit_2_with_one_line(cli, tmp_path: Path):
    assert_one_line_error(proc := cli("--frobnicate"), "unrecognized arguments: --frobnicate")
    assert proc.returncode == 2
    assert_one_line_error(proc := cli("missing.md"), "no such file", "missing.md")
    assert proc.returncode == 2
    write(tmp_path, "doc.md", GOOD)
    assert_one_line_error(proc := cli("doc.md:99"), "doc.md:99", "no runnable block")
    assert proc.returncode == 2
    assert_one_line_error(proc := cli("--jobs", "0", "doc.md"), "--jobs")
    assert proc.returncode == 2


def test_a_good_document_passes(cli, tmp_path: Path):
    write(tmp_path, "doc.md", GOOD)
    proc = cli("doc.md")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


def test_bad_input_gives_findings_with_file_and_line_never_a_traceback(cli, tmp_path: Path):
    write(tmp_path, "SKILL.md", "---\nname: demo\ndescription: broken: yaml\n---\n# Demo\n")
    write(tmp_path, "flags.md", "# F\n\n```python contnue\nx = 1\n```\n")
    write(tmp_path, "chain.md", "# C\n\n```python continue\nx = 1\n```\n")
    write(tmp_path, "open.md", "# O\n\n```python\nx = 1\n")
    (tmp_path / "latin1.md").write_bytes(b"# L\n\ncaf\xe9\n")
    proc = cli("SKILL.md", "flags.md", "chain.md", "open.md", "latin1.md")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    for expected in (
        "SKILL.md:3: SKL102",
        "flags.md:3: BLK002",
        "chain.md:3: BLK003",
        "open.md:3: BLK005",
        "latin1.md:3: SKL001",
    ):
        assert expected in proc.stdout, proc.stdout


def test_failures_exit_1_and_end_with_the_summary(cli, tmp_path: Path):
    write(tmp_path, "doc.md", "```python\nx = 1\n```\n\n```python\nraise ValueError('bad')\n```\n")
    proc = cli("doc.md")
    assert proc.returncode == 1
    assert "doc.md:6: RUN001 ValueError: bad" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "1 passed, 1 failed, 0 skipped"


def test_list_shows_every_block(cli, tmp_path: Path):
    write(tmp_path, "doc.md", GOOD + '\n```bash norun="installs things"\npip install x\n```\n')
    proc = cli("--list", "doc.md")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:4] == ["doc.md:1", "python", "1", "runs"]
    assert "output of L1" in lines[2]
    assert lines[3].split()[:4] == ["doc.md:9", "bash", "-", "norun"]
    rows = json.loads(cli("--list", "--format", "json", "doc.md").stdout)
    assert [r["role"] for r in rows] == ["runs", "output of L1", "norun"]


def test_json_and_github_formats(cli, tmp_path: Path):
    write(
        tmp_path, "doc.md", "```python\nraise KeyError('k')\n```\n\n```python norun=\"shown\"\nx = 1\n```\n"
    )
    data = json.loads(cli("--format", "json", "doc.md").stdout)
    assert data["summary"]["failed"] == 1 and data["summary"]["norun"] == 1
    assert data["blocks"][0]["failed_line"] == 2 and data["blocks"][0]["rule"] == "RUN001"
    github = cli("--format", "github", "doc.md")
    assert github.returncode == 1
    assert github.stdout.splitlines()[0].startswith("::error file=doc.md,line=2,title=RUN001::KeyError")


def test_selecting_a_block_by_line(cli, tmp_path: Path):
    write(tmp_path, "doc.md", "```python\nprint(1)\n```\n\n```python\nraise SystemExit(3)\n```\n")
    proc = cli("doc.md:2")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


def test_unreachable_database_url_is_an_infrastructure_error(cli, tmp_path: Path):
    write(tmp_path, "doc.md", GOOD)
    proc = cli("doc.md", database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    assert proc.returncode == 2
    assert_one_line_error(proc, "infrastructure error", "127.0.0.1:9")
    proc = cli("doc.md", database_url="mysql://x@localhost/db")
    assert proc.returncode == 2
    assert_one_line_error(proc, "must point at PostgreSQL")


def test_a_role_without_createdb_is_told_so(cli, tmp_path: Path, skillproof_provisioner, server_url):
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def role(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def can_create_roles() -> bool:
        conn = await asyncpg.connect(admin)
        try:
            return bool(
                await conn.fetchval(
                    "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
                )
            )
        finally:
            await conn.close()

    if not asyncio.run(can_create_roles()):
        pytest.skip("the DATABASE_URL role cannot create the role this test needs")
    asyncio.run(role("DROP ROLE IF EXISTS skillproof_nocreate; CREATE ROLE skillproof_nocreate LOGIN"))
    try:
        write(tmp_path, "doc.md", GOOD)
        limited = (
            make_url(server_url).set(username="skillproof_nocreate").render_as_string(hide_password=False)
        )
        proc = cli("doc.md", database_url=limited)
        assert proc.returncode == 2
        assert_one_line_error(proc, "lacks CREATEDB", "ALTER ROLE skillproof_nocreate CREATEDB")
    finally:
        asyncio.run(role("DROP ROLE IF EXISTS skillproof_nocreate"))


def test_without_database_url_an_embedded_server_is_used(cli, tmp_path: Path):
    write(tmp_path, "doc.md", GOOD)
    proc = cli("doc.md", database_url=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "embedded server" in proc.stdout.splitlines()[0]


def test_static_only(cli, tmp_path: Path):
    write(tmp_path, "doc.md", "```python\nraise SystemExit('never runs')\n```\n")
    proc = cli("--static", "doc.md")
    assert proc.returncode == 0, proc.stdout
    assert "not run (--static)" in proc.stdout


def test_no_postgresql_binaries_is_an_infrastructure_error(tmp_path: Path):
    import os
    import subprocess
    import sys

    from helpers import VALIDATE

    write(tmp_path, "doc.md", GOOD)
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SKILLPROOF_PG_BINDIR"] = str(empty)
    proc = subprocess.run(
        [sys.executable, str(VALIDATE), "doc.md"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "infrastructure error", "SKILLPROOF_PG_BINDIR")
