"""Recipes: schema, loader (extends, overrides, errors) and runner."""
