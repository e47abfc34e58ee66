"""The public surface of the govcx package is deliberate: pin it (as httpx's
test_exported_members does). Adding or removing a public name fails here on purpose."""

import inspect
import subprocess
import sys

import govcx
import govcx.errors

EXPECTED = [
    "Agent",
    "ApprovalError",
    "ApprovalStale",
    "AuditBroken",
    "AuditError",
    "CassetteMiss",
    "CheckpointUnreadable",
    "ConfigError",
    "Conflict",
    "ConversationBusy",
    "CustomerMismatch",
    "DocumentError",
    "DuplicateApprover",
    "EmbeddingMismatch",
    "GateViolation",
    "GovcxError",
    "GuardInputError",
    "ImpactNotReady",
    "InvalidAnchor",
    "InvalidInput",
    "KnowledgeStoreError",
    "NotAuthorized",
    "NotFound",
    "PolicyError",
    "PolicyGoverned",
    "PolicyVersionConflict",
    "ProposalTampered",
    "RemoteToolError",
    "ReportError",
    "SchemaBehind",
    "Settings",
    "SuiteError",
    "ToolArgumentError",
    "ToolError",
    "ToolSpec",
    "Turn",
    "Unauthenticated",
    "tool",
]


def test_exported_members() -> None:
    assert govcx.__all__ == sorted(govcx.__all__)
    assert govcx.__all__ == EXPECTED
    for name in govcx.__all__:
        assert hasattr(govcx, name), name
    # Everything else public in the namespace is a submodule (imported by other tests) or
    # typing plumbing of __init__ itself.
    public = {
        name
        for name, value in vars(govcx).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public - {"annotations", "TYPE_CHECKING", "Any"} <= set(EXPECTED), public


def test_every_error_class_is_exported() -> None:
    errors = {
        name
        for name, value in vars(govcx.errors).items()
        if isinstance(value, type) and issubclass(value, govcx.errors.GovcxError)
    }
    assert errors <= set(govcx.__all__), errors - set(govcx.__all__)


def test_unknown_names_are_attribute_errors() -> None:
    try:
        govcx.Nope  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("govcx.Nope resolved")


def test_a_tools_module_import_stays_light() -> None:
    """``from govcx import tool`` (every pack's tools.py) must not load the runtime."""
    code = (
        "import sys; from govcx import tool, ToolError; "
        "print(any(m.startswith(('langgraph', 'govcx.agent')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_every_error_class_lives_in_errors_and_its_tree() -> None:
    """One home for the error tree: no module but ``govcx/errors.py`` defines a subclass
    of a govcx error, and the module docstring's tree names every class."""
    import ast
    from pathlib import Path

    errors = {
        name
        for name, value in vars(govcx.errors).items()
        if isinstance(value, type) and issubclass(value, govcx.errors.GovcxError)
    }
    src = Path(govcx.__file__).parent
    elsewhere = []
    for path in src.rglob("*.py"):
        if path == src / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name | ast.Attribute)
                and ast.unparse(base).rsplit(".", 1)[-1] in errors
                for base in node.bases
            ):
                elsewhere.append(f"{path.relative_to(src)}: {node.name}")
    assert elsewhere == []
    tree = govcx.errors.__doc__ or ""
    assert {
        name
        for name in errors
        if f"── {name} " not in tree and not tree.split("```")[1].lstrip().startswith(name)
    } == set()
