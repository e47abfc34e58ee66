"""govcx.agent."""
