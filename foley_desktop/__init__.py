"""Foley Desktop: offline video-to-Foley generation for video editors."""

__version__ = "0.1.0"
