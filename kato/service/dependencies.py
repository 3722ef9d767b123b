"""FastAPI dependencies shared by the route modules.

They are ``async def`` because they do no I/O: FastAPI runs a plain ``def`` dependency in the
thread pool, and each such hop cost more CPU than the whole dependency.
"""

from __future__ import annotations

from fastapi import Depends, Header, Query

from kato.service.context import ServiceContext, get_context
from kato.service.sessions import SessionService


async def get_sessions(context: ServiceContext = Depends(get_context)) -> SessionService:
    return SessionService(context)


def node_id_of(node_id: str | None, x_test_id: str | None, x_node_id: str | None) -> str:
    """Node of a node-scoped route: query, x-test-id, x-node-id, "default_node" (api.md §5.7)."""
    if node_id is not None:
        return node_id
    if x_test_id is not None:
        return x_test_id if x_test_id.startswith("test_") else f"test_{x_test_id}"
    if x_node_id is not None:
        return x_node_id
    return "default_node"


async def resolve_node_id(
    node_id: str | None = Query(default=None, description="Node id (wins over headers)"),
    x_test_id: str | None = Header(default=None, description="Test node id; prefixed test_"),
    x_node_id: str | None = Header(default=None, description="Node id"),
) -> str:
    return node_id_of(node_id, x_test_id, x_node_id)
