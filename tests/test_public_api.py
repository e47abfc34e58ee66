"""The public surface of the govcx package is deliberate: pin it."""

import govcx


def test_exported_members() -> None:
    assert govcx.__all__ == sorted(govcx.__all__)
    for name in govcx.__all__:
        assert hasattr(govcx, name), name
    assert set(govcx.__all__) >= {"tool", "ToolError", "GovcxError", "PolicyError"}
