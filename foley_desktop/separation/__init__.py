"""separation layer (see shared DESIGN.md)."""
