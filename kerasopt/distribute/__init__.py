"""Device and strategy selection."""
