"""pytest integration: each Markdown document of the bundle is one test item, run by the same engine as
scripts/validate.py. One PostgreSQL server (DATABASE_URL's, or an embedded one) serves the whole session.

Enabled with `-p skillproof.pytest_plugin` or `pytest_plugins = ["skillproof.pytest_plugin"]`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import pipeline, report
from .find_documents import SKILL_DIRS, Selection, bundle_root
from .provision_postgres import InfrastructureError, Provisioner
from .run_chains import RunOptions, warm_up

_KEY = pytest.StashKey["SharedServer"]()


class SharedServer:
    """The session's provisioner, started on first use and closed when pytest finishes."""

    def __init__(self) -> None:
        self._provisioner: Provisioner | None = None
        self._error: str | None = None

    def get(self) -> Provisioner:
        if self._error:
            pytest.fail(self._error, pytrace=False)
        if self._provisioner is None:
            provisioner = Provisioner(os.environ.get("DATABASE_URL") or None)
            try:
                warm_up()
                provisioner.start()
            except InfrastructureError as exc:
                provisioner.close()
                self._error = f"PostgreSQL unavailable: {exc}"
                pytest.fail(self._error, pytrace=False)
            self._provisioner = provisioner
        return self._provisioner

    def close(self) -> None:
        if self._provisioner is not None:
            self._provisioner.close()
            self._provisioner = None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = SharedServer()


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_KEY, None)
    if server is not None:
        server.close()


@pytest.fixture(scope="session")
def skillproof_provisioner(request: pytest.FixtureRequest) -> Provisioner:
    """The session's PostgreSQL provisioner: create_database() gives a scratch database that is
    dropped at the end of the session at the latest."""
    return request.config.stash[_KEY].get()


def is_bundle_document(path: Path) -> bool:
    root = bundle_root(path.parent)
    if not (root / "SKILL.md").is_file():
        return False
    return path == root / "SKILL.md" or (path.parent.parent == root and path.parent.name in SKILL_DIRS)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".md" and is_bundle_document(file_path):
        return SkillDocument.from_parent(parent, path=file_path)
    return None


class SkillDocument(pytest.File):
    def collect(self):
        yield SkillDocumentItem.from_parent(self, name="validate")


class DocumentFailed(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class SkillDocumentItem(pytest.Item):
    """Static checks and every chain of one document; fails with the validator's own report."""

    def runtest(self) -> None:
        root = bundle_root(self.path.parent)
        selection = Selection(root=root, documents=[self.path], whole_bundle=self.path == root / "SKILL.md")
        static = pipeline.check_static(selection)
        provisioner = self.config.stash[_KEY].get() if static.chains else None
        result = pipeline.run_static(static, provisioner, RunOptions())
        if not result.ok:
            # Findings first (pytest's short summary shows the first line), the run's header last.
            header, *rest = report.render(result, "text").splitlines()
            raise DocumentFailed("\n".join([*rest, header]))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, DocumentFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name} (validate)"
