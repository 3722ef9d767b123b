"""The FastAPI application: ``create_app()`` and the importable ASGI ``app``.

``uvicorn kato.service.app:app`` (and gunicorn's uvicorn worker) import ``app``;
it is created on first access from the environment, so importing this module
for ``create_app`` has no side effects. The storage backend is opened lazily on
first use in each worker process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from kato.service import (
    auth,
    limits,
    routes_config,
    routes_health,
    routes_learning,
    routes_monitoring,
    routes_node,
    routes_observe,
    routes_session_data,
    routes_sessions,
    routes_transfer,
    warmup,
    websocket,
)
from kato.service.context import ServiceContext
from kato.service.direct_routes import DirectSessionActions
from kato.service.errors import install_error_handlers
from kato.service.json_response import KatoJSONResponse
from kato.service.logging_setup import configure_logging
from kato.service.middleware import CORS_OPTIONS, SessionGuardMiddleware, TraceMiddleware
from kato.service.sessions import SessionService
from kato.service.settings import Settings, load_settings
from kato.service.storage_metrics import instrumented
from kato.storage.ports import Backend, StorageUnavailableError

API_DESCRIPTION = (
    "Deterministic, explainable memory for agents: sessions stream observations into "
    "short-term memory, learn patterns per node and return traceable predictions. "
    "Wire-compatible with KATO 3.10.1 clients."
)

# FastAPI matches a request against the routers in this order, and no method and path
# belongs to two routes, so the order only sets how many routes each request is matched
# against: the training and prediction loop's routers come first.
_ROUTERS = (
    routes_observe.router,
    routes_learning.router,
    routes_session_data.router,
    routes_sessions.router,
    routes_health.router,
    routes_config.router,
    routes_node.router,
    routes_transfer.router,
    routes_monitoring.router,
    websocket.router,
)


def _default_backend_factory(settings: Settings) -> Callable[[], Backend]:
    def build() -> Backend:
        from kato.storage.factory import build_backend

        return build_backend(settings.storage)

    return build


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """Build the service. Without ``backend`` one is built from ``settings.storage``."""
    settings = settings or load_settings()
    factory: Callable[[], Backend] = (
        (lambda: backend) if backend is not None else _default_backend_factory(settings)
    )
    context = ServiceContext(settings=settings, backend_factory=instrumented(factory))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # open storage, compile the kernels and build the indexes now, so that the
        # first requests are not the ones that pay for them
        warmup.pace_collector(settings.kato_gc_threshold)
        opened: Backend | None = None
        try:
            opened = await run_in_threadpool(lambda: context.backend)
        except StorageUnavailableError as exc:
            logging.getLogger("kato.service").warning("storage not ready at startup: %s", exc)
        await run_in_threadpool(lambda: warmup.warm_up(opened, indexes=settings.kato_warm_indexes))
        yield
        if backend is None:
            context.close()

    app = FastAPI(
        title="KATO API",
        version="3.10.1",
        description=API_DESCRIPTION,
        default_response_class=KatoJSONResponse,
        lifespan=lifespan,
        strict_content_type=False,  # a missing Content-Type is parsed as JSON (api.md §2.1)
    )
    app.state.kato = context
    install_error_handlers(app)
    for router in _ROUTERS:
        app.include_router(router)

    # Added innermost first: CORS, the session guard, the direct session actions (they pass on
    # what they do not serve), the limits, auth, then the trace layer (outermost).
    app.add_middleware(CORSMiddleware, **CORS_OPTIONS)  # type: ignore[arg-type]
    app.add_middleware(SessionGuardMiddleware, sessions=lambda: SessionService(context))
    app.add_middleware(DirectSessionActions, context=context, handlers_of=app)
    limits.install(app, context)  # limits of docs/limits.md, inside the auth check
    auth.install(app, context)  # optional API keys (docs/security.md), before the guard
    app.add_middleware(
        TraceMiddleware,
        monitoring=lambda: context.monitoring,
        max_body=settings.kato_max_body_bytes,
    )
    return app


_app: FastAPI | None = None


def get_app() -> FastAPI:
    """The process-wide application, built from the environment on first use."""
    global _app
    if _app is None:
        settings = load_settings()
        configure_logging(settings)
        logging.getLogger("kato.service").info(
            "KATO service starting (storage: %s)", settings.storage.backend
        )
        _app = create_app(settings)
    return _app


def __getattr__(name: str) -> Any:
    if name == "app":
        return get_app()
    raise AttributeError(name)
