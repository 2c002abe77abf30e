"""Live station sessions held by this node."""
