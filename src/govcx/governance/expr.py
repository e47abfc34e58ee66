"""Approval conditions in CEL (the Common Expression Language), via cel-python.

CEL is side-effect free, terminates, and cannot reach Python objects, so a policy
author's expression can decide whether an action needs approval without the risks of
``eval``. Variables are the tool's canonical arguments plus ``tool`` and ``customer_id``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes


class ExpressionError(ValueError):
    """The expression does not parse or cannot be evaluated."""


def _to_cel(value: Any) -> Any:
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float):
        # Amounts compare as doubles: `amount > 50` must hold for 80 and 80.5 alike.
        return celtypes.DoubleType(float(value))
    if isinstance(value, str):
        return celtypes.StringType(value)
    if value is None:
        return None
    return celpy.json_to_cel(json.loads(json.dumps(value, default=str)))  # type: ignore[attr-defined]


@functools.cache
def _env() -> celpy.Environment:
    """Built on the first compile: building CEL's parser takes ~0.15 s, which commands that
    import the policy model without compiling a condition (``govcx audit verify``) skip."""
    return celpy.Environment()


@dataclass(frozen=True, kw_only=True)
class Expression:
    """A compiled CEL condition."""

    source: str
    _program: Any = field(repr=False, compare=False)

    @classmethod
    def compile(cls, source: str) -> Expression:
        """Parse ``source``; raises ExpressionError with the parser's pointer on failure."""
        try:
            ast = _env().compile(source)
            program = _env().program(ast)
        except Exception as exc:  # celpy raises several parser error types
            detail = " ".join(str(exc).split())
            raise ExpressionError(f"not a valid CEL expression: {detail}") from None
        return cls(source=source, _program=program)

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        """Evaluate to a bool. Unknown names, type errors and non-bool results raise."""
        activation = {k: _to_cel(v) for k, v in variables.items()}
        try:
            result = self._program.evaluate(activation)
        except Exception as exc:
            raise ExpressionError(f"{self.source!r} failed: {_short(exc)}") from None
        if isinstance(result, Exception):  # celpy returns CELEvalError values
            raise ExpressionError(f"{self.source!r} failed: {_short(result)}")
        if not isinstance(result, celtypes.BoolType | bool):
            raise ExpressionError(f"{self.source!r} must be true or false, got {result!r}")
        return bool(result)


def _short(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], str):
        first = args[0]
        if "undeclared reference" in first:
            name = first.split("'")[1] if "'" in first else "?"
            return f"unknown name {name!r}"
        return first[:200]
    return type(exc).__name__
