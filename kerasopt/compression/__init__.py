"""Compression techniques, each in its own folder with a method card."""
