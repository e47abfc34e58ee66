"""govcx.evals."""
