"""The method card's code block runs."""

import re
from pathlib import Path

README = Path(__file__).parents[3] / "kerasopt" / "compression" / "low_rank" / "README.md"


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(README), "exec"), {})  # noqa: S102
