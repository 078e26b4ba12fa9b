"""The table of data sources, discovered from the modules of `kerasopt.data.sources`.

There is no hand-kept list: every `DataSource` subclass defined in a module of
`kerasopt.data.sources` is found by its `name`. Importing the source modules is cheap
(NumPy only), so the recipe validator can read `source_options()` without TensorFlow.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource


def source_classes() -> dict[str, type[DataSource]]:
    """Return every data source class, keyed by its recipe name.

    Returns:
        A dict from source name (`"mnist1d"`, `"csv"`...) to its class.
    """
    from kerasopt.data import sources

    found: dict[str, type[DataSource]] = {}
    for info in pkgutil.iter_modules(sources.__path__, prefix=sources.__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, DataSource)
                    and value.__module__ == module.__name__ and "name" in vars(value)):
                found[value.name] = value
    return dict(sorted(found.items()))


def get_source(name: str) -> type[DataSource]:
    """Return the data source class registered as `name`.

    Raises:
        DataError: If no source has that name, with the closest names and all names.
    """
    table = source_classes()
    if name not in table:
        close = difflib.get_close_matches(str(name), list(table), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"Unknown data source {name!r}.{hint} "
                        f"Allowed sources: {', '.join(table)}.")
    return table[name]


def source_options() -> dict[str, tuple[Option, ...]]:
    """Return the declared options of every source (for the recipe schema and validator)."""
    return {name: cls.options for name, cls in source_classes().items()}
