"""The Agent facade: a pack, a policy and stores put together, above the graph."""
