"""FastAPI dependencies shared by the route modules."""

from __future__ import annotations

from fastapi import Depends, Header, Query

from kato.service.context import ServiceContext, get_context
from kato.service.sessions import SessionService


def get_sessions(context: ServiceContext = Depends(get_context)) -> SessionService:
    return SessionService(context)


def resolve_node_id(
    node_id: str | None = Query(default=None, description="Node id (wins over headers)"),
    x_test_id: str | None = Header(default=None, description="Test node id; prefixed test_"),
    x_node_id: str | None = Header(default=None, description="Node id"),
) -> str:
    """Node of a node-scoped route: query, x-test-id, x-node-id, "default_node" (api.md §5.7)."""
    if node_id is not None:
        return node_id
    if x_test_id is not None:
        return x_test_id if x_test_id.startswith("test_") else f"test_{x_test_id}"
    if x_node_id is not None:
        return x_node_id
    return "default_node"
