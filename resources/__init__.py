"""Shipped data: model packages, demo clip, icon."""
