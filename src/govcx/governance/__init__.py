"""govcx.governance."""
