"""A self-contained HTML page: inline style, a table, PNG figures as base64 data URIs, no external resources.

When every image has decoded (`complete` and `naturalWidth > 0`), a small inline script sets
`data-images-ok="true"` on `<body>` (`"false"` if one failed), so a headless browser can check
the page rendered.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
tbody tr:first-child { background: #eef7ee; }
img { max-width: 100%; border: 1px solid #eee; }
.sources { color: #666; font-size: 0.8em; }
"""

_SCRIPT = """
(function () {
  var images = Array.prototype.slice.call(document.images);
  function decoded(img) { return img.complete && img.naturalWidth > 0; }
  function settle(img) {
    return decoded(img) ? Promise.resolve() : new Promise(function (done) {
      img.addEventListener("load", done); img.addEventListener("error", done);
    });
  }
  Promise.all(images.map(settle)).then(function () {
    document.body.setAttribute("data-images", String(images.filter(decoded).length));
    document.body.setAttribute("data-images-ok", images.every(decoded) ? "true" : "false");
  });
})();
"""


def html_page(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
              figures: Sequence[tuple[str, bytes]], sources: Sequence[str] = (),
              tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]] = ()) -> str:
    """Render the report page.

    Args:
        title: The page title and heading.
        headers: Table headers.
        rows: Table cells (already formatted), best run first.
        figures: (title, PNG bytes) of each figure.
        sources: Run directory paths listed under the table (already escaped). Defaults to `()`.
        tables: (title, headers, cells) of tables shown before the main one (a sweep's
            Pareto front). Defaults to `()`.

    Returns:
        The HTML text.

    Example:
        >>> page = html_page("Runs", ["run", "val accuracy"], [["a", "0.9"]], [])
        >>> "<td>a</td><td>0.9</td>" in page, "http" in page.split("<body")[1]
        (True, False)
    """
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{esc(title)}</title>", f"<style>{_STYLE}</style>", "</head>",
        '<body data-images-ok="pending">', f"<h1>{esc(title)}</h1>",
    ]
    for index, (table_title, table_headers, table_rows) in enumerate(tables):
        parts += [f"<h2>{esc(table_title)}</h2>", _table(f"table{index}", table_headers, table_rows),
                  "<h2>All runs</h2>"]
    parts.append(_table("runs", headers, rows))
    if sources:
        parts.append('<p class="sources">' + "<br>".join(sources) + "</p>")
    for figure_title, png in figures:
        data = base64.b64encode(png).decode("ascii")
        parts += [f"<h2>{esc(figure_title)}</h2>",
                  f'<img alt="{esc(figure_title)}" src="data:image/png;base64,{data}">']
    parts += [f"<script>{_SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'
