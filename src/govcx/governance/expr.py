"""Approval conditions in CEL (the Common Expression Language), via cel-python.

CEL is side-effect free, terminates, and cannot reach Python objects, so a policy
author's expression can decide whether an action needs approval without the risks of
``eval``. Variables are the tool's canonical arguments plus ``tool`` and ``customer_id``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    import the policy model without compiling a condition (``govcx audit verify``) skip.
    With a private cache dir (:func:`private_cache_dir`) the parser is loaded from lark's
    cache there instead (a few milliseconds)."""
    _load_cached_parser(private_cache_dir())
    return celpy.Environment()


# -- the parser cache ----------------------------------------------------------------------
# lark's cache is a pickle, and unpickling runs code: it is only read from a file that only
# this user can have written (see trusted_file), like the keys in the same state dir.

_CELPY_PARSER_OPTIONS = "0.5.0"
"""The cel-python version whose CELParser options _load_cached_parser repeats; another
version builds its own parser, uncached."""

_logger = logging.getLogger("govcx.governance.expr")


def _owner_only(path: Path, kind: int) -> bool:
    """``path`` is (not a symlink to) a file of ``kind`` owned by this user, and no group or
    other permission bit is set on it."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - no POSIX ownership to check (Windows)
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_IFMT(info.st_mode) == kind and info.st_uid == getuid() and not info.st_mode & 0o077
    )


def trusted_file(path: Path) -> bool:
    """``path`` is a regular file this user owns, owner-only (0600 or stricter), in a
    directory of the same kind: nobody else can have written it."""
    return _owner_only(path.parent, stat.S_IFDIR) and _owner_only(path, stat.S_IFREG)


def private_cache_dir() -> Path | None:
    """``<state dir>/cache`` (created 0700) when the state dir (``GOVCX_HOME``) already
    exists as an owner-only directory of this user; otherwise None, and nothing is cached.

    What is cached there (CEL's parser, the fitted intent classifier) is as trusted as the
    keys kept in the same state dir: only its owner can write it.
    """
    from govcx.settings import Settings

    try:
        home = Settings().home.expanduser().resolve()
    except Exception:  # bad GOVCX_ settings are reported where they are used, not here
        return None
    if not _owner_only(home, stat.S_IFDIR):
        return None
    cache = home / "cache"
    try:
        cache.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return cache if _owner_only(cache, stat.S_IFDIR) else None


def write_private(path: Path, write: Any, *, keep: tuple[str, int] | None = None) -> None:
    """Write ``path`` atomically as 0600: ``write(tmp_path)`` writes a temporary file beside
    it, which then replaces ``path``. Failures are logged and ignored (a cache).

    ``keep=(pattern, n)``: then delete all but the ``n`` newest files matching ``pattern``
    in the same folder (entries of older packs or library versions)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except Exception as exc:
        _logger.debug("not cached: %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
        return
    if keep is None:
        return
    pattern, count = keep

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    for old in sorted(path.parent.glob(pattern), key=mtime, reverse=True)[count:]:
        if old != path:
            old.unlink(missing_ok=True)


def _load_cached_parser(cache: Path | None) -> None:
    """Give celpy its lark parser from ``<cache>/cel-...lark``, built and written there when
    missing. lark checks the file against a hash of the grammar, its options and the lark
    and Python versions, and rebuilds on a mismatch."""
    from celpy.celparser import CELParser

    if cache is None or CELParser.CEL_PARSER is not None:
        return
    from importlib.metadata import version as installed

    version = installed("cel-python")
    if version != _CELPY_PARSER_OPTIONS:
        return
    import re

    import lark

    path = cache / (
        f"cel-{version}-lark-{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}.lark"
    )
    if path.exists() and not trusted_file(path):
        _logger.warning(
            "not loading the CEL parser cache %s: it is not an owner-only file of this user", path
        )
        return

    def build(target: Path) -> Any:
        # celpy's own options (celpy/celparser.py, CELParser.__init__, cel-python 0.5.0)
        # and the tree class of its default InterpretedRunner.
        grammar = (Path(celpy.celparser.__file__).parent / "cel.lark").read_text()
        return lark.Lark(
            grammar,
            parser="lalr",
            start="expr",
            debug=True,
            g_regex_flags=re.M,
            lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
            propagate_positions=True,
            maybe_placeholders=False,
            priority="invert",
            tree_class=celpy.InterpretedRunner.tree_node_class,
            cache=str(target),
        )

    if path.exists():
        CELParser.CEL_PARSER = build(path)
        return

    def write(tmp: Path) -> None:
        CELParser.CEL_PARSER = build(tmp)
        if not tmp.exists():
            raise OSError("lark did not write its cache")

    write_private(path, write, keep=("cel-*.lark", 2))


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
