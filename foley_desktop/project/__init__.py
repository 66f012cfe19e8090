"""project layer (see shared DESIGN.md)."""
