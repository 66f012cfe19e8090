"""export layer (see shared DESIGN.md)."""
