"""The route class of the API routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.datastructures import Default, DefaultPlaceholder
from fastapi.routing import APIRoute


class KatoRoute(APIRoute):
    """A route without a response model unless it declares one.

    Routes return plain dicts, documented through ``responses=`` (``models.documented``), or
    a response. Without this FastAPI takes a route's ``-> Any`` annotation as its response
    model and checks every return value against it, in the thread pool for a plain ``def``
    route: one more thread hop per request for a check that cannot fail. The body's text is
    the same either way: ``KatoJSONResponse`` writes it.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = Default(None),
        **kwargs: Any,
    ) -> None:
        if isinstance(response_model, DefaultPlaceholder):
            response_model = None
        super().__init__(path, endpoint, response_model=response_model, **kwargs)
