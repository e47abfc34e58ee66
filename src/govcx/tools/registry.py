"""The registry of a pack's tools, loaded from its tools module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from govcx.errors import ConfigError, NotFound
from govcx.tools.tool import ToolSpec, _collector

if TYPE_CHECKING:
    from govcx.tools.gateway import Gateway


class ToolRegistry:
    """Tools by name: the pack's native tools and its reviewed remote ones.

    A remote tool that is disabled (unreviewed, changed since review, its source
    unreachable) is not in the registry, so nothing can offer or run it; ``gateway`` says
    why (:meth:`why_disabled`).
    """

    def __init__(
        self, specs: list[ToolSpec] | None = None, *, gateway: Gateway | None = None
    ) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self.gateway = gateway
        for spec in specs or []:
            self.add(spec)

    def why_disabled(self, name: str) -> str | None:
        """Why the remote tool ``name`` is not available, or None (not a known remote tool)."""
        return self.gateway.why_disabled(name) if self.gateway is not None else None

    def add(self, spec: ToolSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"tool {spec.name!r} is registered twice")
        self._specs[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs))
            raise NotFound("tool", name, hint=f"known tools: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return sorted(self._specs)

    @classmethod
    def from_module_file(cls, path: Path) -> ToolRegistry:
        """Import a pack's tools.py and collect the functions decorated with ``@tool``."""
        if not path.is_file():
            raise ConfigError(str(path), "tools module not found")
        module_name = f"govcx_pack_tools_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(str(path), "cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        collected: list[ToolSpec] = []
        previous = _collector.specs
        _collector.specs = collected
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise ConfigError(
                str(path), f"importing the tools module failed: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            _collector.specs = previous
        if not collected:
            for value in vars(module).values():
                found = getattr(value, "__govcx_tool__", None)
                if isinstance(found, ToolSpec):
                    collected.append(found)
        return cls(collected)
