"""Bodies of the commands beside `run`: `list`, `schema`, `lr-find`."""
