"""One router per resource; every route is a :class:`StrictRoute`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from govcx.api.errors import ApiError
from govcx.turn import Turn


class StrictRoute(APIRoute):
    """A route that refuses query parameters it does not declare (422
    ``unknown_query_parameter``, naming them and the valid ones), and any given twice (422
    ``repeated_query_parameter``: every parameter here is a single value).

    A typo such as ``?stauts=pending`` would otherwise be ignored silently and the
    caller would get every approval instead of an error; of ``?status=pending&status=all``
    FastAPI keeps the last, while a proxy or log reading the first believes the pending
    queue was asked for. The check runs before the
    route's dependencies (authentication included): the parameter names are public in
    ``/openapi.json``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = query_names(self.dependant)
        path = self.path_format

        async def strict_handler(request: Request) -> Response:
            if request.scope.get("query_string"):
                unknown = sorted({name for name in request.query_params if name not in allowed})
                if unknown:
                    raise unknown_parameters(path, unknown, allowed)
                repeated = sorted(
                    name
                    for name in request.query_params
                    if len(request.query_params.getlist(name)) > 1
                )
                if repeated:
                    raise repeated_parameters(path, repeated)
            return await handler(request)

        return strict_handler


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    seen: set[int] = set()
    todo = [dependant]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        names.update(field.alias for field in current.query_params)
        todo.extend(current.dependencies)
    return frozenset(names)


def unknown_parameters(path: str, unknown: list[str], allowed: frozenset[str]) -> ApiError:
    names = ", ".join(unknown)
    valid = ", ".join(sorted(allowed)) if allowed else "none"
    plural = "s" if len(unknown) > 1 else ""
    return ApiError(
        422,
        "unknown_query_parameter",
        f"unknown query parameter{plural} {names} on {path}; valid: {valid}",
        details={"unknown": unknown, "allowed": sorted(allowed)},
    )


def repeated_parameters(path: str, repeated: list[str]) -> ApiError:
    names = ", ".join(repeated)
    plural = "s" if len(repeated) > 1 else ""
    return ApiError(
        422,
        "repeated_query_parameter",
        f"query parameter{plural} {names} given more than once on {path}; give each once",
        details={"repeated": repeated},
    )


def turn_response(turn: Turn, headers: dict[str, str] | None = None) -> Response:
    """A Turn as JSON, serialised once by pydantic (the route's ``response_model=Turn``
    still documents it; re-validating a Turn the core just built would only cost time)."""
    return Response(turn.model_dump_json(), media_type="application/json", headers=headers)
