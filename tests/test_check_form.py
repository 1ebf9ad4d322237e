"""Agent Skills form: frontmatter, size, links, contents lists, orphans."""

from pathlib import Path

from helpers import parse, rules, write
from skillproof import check_form
from skillproof.parse_blocks import read_document


def skill(text: str):
    return check_form.check_skill_md(parse(text, "SKILL.md"))


def test_a_good_frontmatter_has_no_findings():
    assert (
        skill("""
        ---
        name: sqlalchemy-postgres
        description: Builds things. Use when building.
        license: Apache-2.0
        compatibility: Python 3.11+, PostgreSQL 14+
        metadata:
          version: "1.0"
        allowed-tools: Bash Read
        ---
        # Body
    """)
        == []
    )


def test_unknown_keys_bad_name_and_description():
    found = skill("""
        ---
        name: SQLAlchemy--Skill-
        description: Uses <xml> tags
        version: 1.0
        compatibility: ""
        metadata:
          version: 1
        ---
    """)
    assert sorted(rules(found)) == [("SKL103", 4), ("SKL104", 2), ("SKL105", 3), ("SKL106", 5), ("SKL106", 6)]


def test_description_length_and_missing_name():
    found = skill("---\ndescription: " + "x" * 1025 + "\n---\n")
    assert sorted(r for r, _ in rules(found)) == ["SKL104", "SKL105"]
    assert "1025" in next(f.message for f in found if f.rule == "SKL105")


def test_missing_frontmatter_and_long_body():
    assert rules(skill("# No frontmatter\n")) == [("SKL101", 1)]
    long_body = "---\nname: a\ndescription: b\n---\n" + "line\n" * 501
    assert rules(skill(long_body)) == [("SKL107", 505)]


def test_links_resolve_case_sensitively_inside_the_bundle(tmp_path: Path):
    write(tmp_path, "references/guide.md", "# Guide\n\n## Part one\n")
    doc_path = write(
        tmp_path,
        "SKILL.md",
        """
        ---
        name: a
        description: b
        ---
        [ok](references/guide.md) [anchor](references/guide.md#part-one)
        [case](references/Guide.md)
        [missing](references/nope.md)
        [outside](../elsewhere.md)
        [bad anchor](references/guide.md#part-two)
        [web](https://example.com/x.md) [self](#nothing)
    """,
    )
    doc = read_document(doc_path)
    anchors = {
        doc.path: check_form.heading_anchors(doc),
        tmp_path / "references/guide.md": {"guide", "part-one"},
    }
    found = check_form.check_links(doc, tmp_path, anchors)
    assert rules(found) == [("SKL202", 6), ("SKL202", 7), ("SKL202", 8), ("SKL202", 9), ("SKL202", 10)]
    assert "case matters" in found[0].message


def test_long_references_need_a_contents_list():
    body = "\n".join(f"para {n}" for n in range(120))
    assert rules(check_form.check_contents(parse("# Ref\n\n" + body))) == [("SKL203", 1)]
    with_toc = "# Ref\n\n## Contents\n- [A](#a)\n\n" + body
    assert check_form.check_contents(parse(with_toc)) == []
    assert check_form.check_contents(parse("# Short\n")) == []


def test_every_workflow_and_reference_is_linked_from_skill_md(tmp_path: Path):
    write(tmp_path, "workflows/linked.md", "# L\n")
    write(tmp_path, "workflows/orphan.md", "# O\n")
    write(tmp_path, "references/deep.md", "# D\n")
    skill_path = write(
        tmp_path, "SKILL.md", "---\nname: a\ndescription: b\n---\nSee [l](workflows/linked.md).\n"
    )
    found = check_form.check_bundle(read_document(skill_path), tmp_path)
    assert [(f.rule, f.location.path.name) for f in found] == [("SKL201", "orphan.md"), ("SKL201", "deep.md")]
    assert check_form.check_bundle(None, tmp_path)[0].rule == "SKL204"


def test_heading_anchors_follow_github():
    doc = parse("# Set up the database\n## Step 2: `alembic` init\n## Step 2: `alembic` init\n")
    assert check_form.heading_anchors(doc) == {
        "set-up-the-database",
        "step-2-alembic-init",
        "step-2-alembic-init-1",
    }


def test_files_agents_would_only_read_in_part():
    assert check_form.check_size(parse("# Fine\n" + "line\n" * 100)) == []
    too_long = check_form.check_size(parse("# Long\n" + "x\n" * 2100))
    assert rules(too_long) == [("SKL205", 2001)]
    too_wide = check_form.check_size(parse("# Wide\n" + ("y" * 100 + "\n") * 700))
    assert rules(too_wide) == [("SKL205", 1)] and "70" in too_wide[0].message
