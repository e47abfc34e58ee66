"""govcx.graphs."""
