"""govcx.tools."""
