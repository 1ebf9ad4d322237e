"""The bundle's Markdown documents are test items too (one per document), run on real PostgreSQL."""

pytest_plugins = ["skillproof.pytest_plugin"]
