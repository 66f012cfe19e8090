"""commands layer (see shared DESIGN.md)."""
