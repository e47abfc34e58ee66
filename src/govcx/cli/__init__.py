"""govcx.cli."""
