"""Loading and checking a recipe before anything runs: validation, data, files, strategy."""
