"""Dashboard fixtures: the scripted daemon factory, the asyncio backend, and where snapshots live.

Snapshots: pytest-textual-snapshot stores SVGs next to the tests by default
(``tests/tui/__snapshots__``). The repo keeps them in ``snapshots/`` at the
top, so the ``snapshot`` fixture below hands syrupy an extension whose
``dirname`` points there; ``snap_compare`` switches to its SVG extension
through ``use_extension``, which wraps it the same way.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.base import AbstractSyrupyExtension
from syrupy.location import PyTestLocation

from tests.tui.scripted import ScriptedDaemon

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "snapshots"


# -- snapshots in /snapshots -------------------------------------------------------------------


def _in_repo_snapshots(extension: type[AbstractSyrupyExtension]) -> type[AbstractSyrupyExtension]:
    if getattr(extension, "_treerag_snapshots", False):
        return extension

    def dirname(cls: type[AbstractSyrupyExtension], *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename)

    return type(extension.__name__, (extension,), {"dirname": classmethod(dirname), "_treerag_snapshots": True})


class RepoSnapshotAssertion(SnapshotAssertion):
    """Keeps every extension it is switched to (``use_extension``) pointed at ``snapshots/``."""

    def use_extension(self, extension_class: type[AbstractSyrupyExtension] | None = None) -> SnapshotAssertion:
        return super().use_extension(_in_repo_snapshots(extension_class or self.extension_class))


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return RepoSnapshotAssertion(
        update_snapshots=snapshot.update_snapshots,
        extension_class=_in_repo_snapshots(snapshot.extension_class),
        test_location=snapshot.test_location,
        session=snapshot.session,
    )


# -- a known leak outside the dashboard --------------------------------------------------------

# treerag/client/aio.py: AsyncClient.run() hands each reply to its caller's one-shot send stream
# but never closes it, so every call drops an unclosed MemoryObjectSendStream (a ResourceWarning,
# an error under filterwarnings=error). Remove this once the client closes its waiters.
CLIENT_WAITER_LEAK = "ignore:Unclosed <MemoryObjectSendStream:ResourceWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings(CLIENT_WAITER_LEAK))


@pytest.fixture(autouse=True)
def _collect_client_waiters() -> Iterator[None]:
    """Free the leaked waiters (held in reference cycles by cancelled tasks) while the filter applies."""
    yield
    gc.collect()


# -- anyio ----------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


@pytest.fixture
def scripted_daemon() -> Callable[..., ScriptedDaemon]:
    """Factory: ``scripted_daemon(results={...}, up=True, on_subscribe=[events])``."""
    return ScriptedDaemon
