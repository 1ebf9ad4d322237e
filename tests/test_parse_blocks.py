"""The block grammar as the parser reads it: CommonMark fences, flags, frontmatter, bad input."""

from pathlib import Path

from helpers import parse
from skillproof.parse_blocks import read_document


def langs(doc):
    return [(b.language, b.fence_line, b.code) for b in doc.blocks]


def test_tilde_and_longer_fences_and_exact_lines():
    doc = parse("""
        # Title

        ~~~python
        a = 1
        ~~~

        `````python id=x
        b = "```"
        `````
    """)
    assert langs(doc) == [("python", 3, "a = 1\n"), ("python", 7, 'b = "```"\n')]
    assert doc.blocks[0].code_line == 4 and doc.blocks[0].end_line == 5
    assert doc.findings == []


def test_fences_in_lists_and_blockquotes_lose_their_container_prefix():
    doc = parse("""
        - step one:

          ```python
          x = 1
          if x:
              y = 2
          ```

        > ```bash run
        > echo hi
        > ```
    """)
    assert [(b.language, b.fence_line) for b in doc.blocks] == [("python", 3), ("bash", 9)]
    assert doc.blocks[0].code == "x = 1\nif x:\n    y = 2\n"
    assert doc.blocks[1].code == "echo hi\n"
    assert (doc.blocks[0].indent, doc.blocks[1].indent) == (2, 2)
    assert doc.findings == []


def test_python_fence_nested_in_a_markdown_fence_is_ignored():
    doc = parse("""
        ````markdown
        ```python
        raise SystemExit("must never run")
        ```
        ````
    """)
    assert [b.language for b in doc.blocks] == ["markdown"]
    assert not doc.blocks[0].executes


def test_info_string_with_several_flags_and_quoted_values():
    doc = parse("""
        ```python id=setup timeout=5 raises=sqlalchemy.exc.MissingGreenlet
        pass
        ```

        ```python norun="needs a PgBouncer in front"
        pass
        ```

        ```py continue=setup
        pass
        ```
    """)
    first, second, third = doc.blocks
    assert first.flags == {"id": "setup", "timeout": "5", "raises": "sqlalchemy.exc.MissingGreenlet"}
    assert first.timeout == 5.0
    assert second.flags == {"norun": "needs a PgBouncer in front"} and not second.executes
    assert third.language == "python" and third.flags == {"continue": "setup"}
    assert doc.findings == []


def test_unknown_flag_and_flag_on_wrong_language_are_errors():
    doc = parse("""
        ```python contiue
        pass
        ```

        ```toml run
        a = 1
        ```

        ```python timeout=soon
        pass
        ```

        ```python norun raises=ValueError
        pass
        ```

        ```python file=../escape.py
        pass
        ```
    """)
    found = [(f.rule, f.location.line) for f in doc.findings]
    assert found == [("BLK002", 1), ("BLK002", 5), ("BLK002", 9), ("BLK002", 13), ("BLK002", 17)]
    assert "contiue" in doc.findings[0].message and "allowed:" in doc.findings[0].message
    assert "norun" in doc.findings[3].message and "raises" in doc.findings[3].message


def test_unbalanced_quote_in_info_string_is_an_error_not_a_crash():
    doc = parse("""
        ```python norun="oops
        pass
        ```
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("BLK002", 1)]


def test_fence_without_language_and_indented_code():
    doc = parse("""
        ```
        plain
        ```

        text

            indented code
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("BLK001", 1), ("BLK006", 7)]


def test_unclosed_fence_is_reported_at_its_opening_line():
    doc = parse("""
        # T

        ```python
        x = 1
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("BLK005", 3)]


def test_unclosed_fence_inside_a_list_item():
    doc = parse("""
        - item

          ```python
          x = 1

        after the list
    """)
    assert ("BLK005", 3) in [(f.rule, f.location.line) for f in doc.findings]


def test_frontmatter_is_parsed_and_keeps_line_numbers():
    doc = parse("""
        ---
        name: demo
        description: "Does things: quoted colon is fine."
        ---
        # Body
        ```python
        x = 1
        ```
    """)
    assert doc.frontmatter == {"name": "demo", "description": "Does things: quoted colon is fine."}
    assert doc.frontmatter_end == 4
    assert doc.blocks[0].fence_line == 6
    assert doc.headings == [(1, "Body", 5)]


def test_malformed_frontmatter_is_reported_with_its_line():
    doc = parse("""
        ---
        name: demo
        description: Does things: unquoted colon
        ---
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("SKL102", 3)]


def test_frontmatter_that_only_a_strict_parser_rejects():
    doc = parse("""
        ---
        name: demo
        description: ok
        metadata: {version: "1"}
        ---
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("SKL102", 4)]
    assert "strict" in doc.findings[0].message


def test_unclosed_frontmatter():
    doc = parse("""
        ---
        name: demo
        # never closed
    """)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("SKL101", 1)]


def test_non_utf8_and_missing_files_become_findings(tmp_path: Path):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"# ok\n\nline two \xff\xfe\n")
    doc = read_document(bad)
    assert [(f.rule, f.location.line) for f in doc.findings] == [("SKL001", 3)]
    assert "UTF-8" in doc.findings[0].message
    missing = read_document(tmp_path / "nope.md")
    assert missing.findings[0].rule == "SKL001" and missing.blocks == []


def test_bom_is_ignored(tmp_path: Path):
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Title\n\n```python\nx = 1\n```\n".encode())
    doc = read_document(path)
    assert doc.findings == [] and doc.blocks[0].fence_line == 3


def test_links_are_collected_with_their_exact_line():
    doc = parse("""
        # T

        A paragraph that spans
        two lines and links [here](references/a.md#part)
        and ![img](img.png).
    """)
    assert doc.links == [("references/a.md#part", 4), ("img.png", 5)]
