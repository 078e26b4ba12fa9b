"""One module per data source; `kerasopt.data.catalog` finds them by their `name`."""
