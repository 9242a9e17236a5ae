"""The method table: name → async handler, extended by each feature module.

A handler is ``async def handler(ctx: RequestContext, params: dict) -> result``.
Handlers raise ``TreeragError`` subclasses for expected failures; the server
turns them into error replies. Handlers marked ``inline=False`` run in their
own task so a slow one (indexing) never holds up the connection's other
requests; fast ones (ping, status) run inline to keep latency at the floor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from treerag.errors import MethodNotFound

if TYPE_CHECKING:
    from treerag.daemon.app import Daemon
    from treerag.daemon.server import Connection

__all__ = ["Handler", "MethodTable", "RequestContext"]

Handler = Callable[["RequestContext", dict[str, Any]], Awaitable[Any]]


@dataclass(slots=True)
class RequestContext:
    daemon: Daemon
    connection: Connection
    method: str


@dataclass(slots=True, frozen=True)
class MethodSpec:
    name: str
    handler: Handler
    inline: bool
    doc: str


class MethodTable:
    def __init__(self) -> None:
        self._specs: dict[str, MethodSpec] = {}

    def register(self, name: str, handler: Handler, *, inline: bool = True) -> None:
        if name in self._specs:
            raise ValueError(f"method {name!r} registered twice")
        doc = (handler.__doc__ or "").strip().splitlines()
        self._specs[name] = MethodSpec(name, handler, inline, doc[0] if doc else "")

    def method(self, name: str, *, inline: bool = True) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``."""

        def wrap(handler: Handler) -> Handler:
            self.register(name, handler, inline=inline)
            return handler

        return wrap

    def get(self, name: str) -> MethodSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise MethodNotFound(name) from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def describe(self) -> dict[str, str]:
        return {name: spec.doc for name, spec in sorted(self._specs.items())}
