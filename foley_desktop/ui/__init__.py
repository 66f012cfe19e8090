"""ui layer (see shared DESIGN.md)."""
