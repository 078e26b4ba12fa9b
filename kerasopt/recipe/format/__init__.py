"""The recipe format: schema models, YAML dialect, overrides and stages (no TensorFlow)."""
