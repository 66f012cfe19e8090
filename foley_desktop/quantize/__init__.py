"""quantize layer (see shared DESIGN.md)."""
