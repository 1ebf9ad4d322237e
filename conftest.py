"""Root of the test session: the bundle's Markdown documents are test items too (one per document),
and the reference project's tests get a scratch database of their own on the same PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["skillproof.pytest_plugin"]

EXAMPLES = Path(__file__).parent / "examples"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    config.stash[_NEEDS_DB] = any(EXAMPLES in Path(item.path).parents for item in items)


_NEEDS_DB = pytest.StashKey[bool]()


@pytest.fixture(scope="session", autouse=True)
def examples_database(request: pytest.FixtureRequest):
    """examples/tests migrate, write and drop what they like: point their DATABASE_URL at a scratch
    database (dropped at the end), never at the server's own databases."""
    if not request.config.stash.get(_NEEDS_DB, False):
        yield None
        return
    provisioner = request.getfixturevalue("skillproof_provisioner")
    database = provisioner.create_database()
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database.url
    try:
        yield database
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved
        provisioner.drop_database(database.name)
