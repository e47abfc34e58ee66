"""govcx.api."""
