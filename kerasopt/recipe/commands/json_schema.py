"""`kerasopt schema`: the JSON Schema of the recipe format, generated from the schema models."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.format.schema import Recipe


def recipe_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a recipe file, `extends` included."""
    schema = Recipe.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kerasopt recipe"
    base = {"type": "string", "description": "a base recipe: a path relative to this file, or a "
            "shipped recipe's name"}
    schema["properties"]["extends"] = {
        "anyOf": [base, {"type": "array", "items": base, "minItems": 1}],
        "description": "base recipe(s) deep-merged under this one, in order: later ones override "
                       "earlier ones; `key: !delete` removes an inherited key, `key: !replace {...}` "
                       "replaces an inherited mapping"}
    # `name` defaults to the file name; a recipe that extends a base may leave out sections.
    schema["required"] = [k for k in schema.get("required", []) if k not in ("name", "data", "model")]
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": ["data", "model"]}
    return schema
