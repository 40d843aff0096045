"""The README's walkthrough blocks: ``<!-- walkthrough:NAME -->`` followed by a fenced bash block."""

from __future__ import annotations

import re

from autograder.release import COURSE_ROOT

README = COURSE_ROOT / "README.md"


def walkthrough() -> dict[str, str]:
    """``{name: the block's commands}`` in README order."""
    text = README.read_text()
    blocks = re.findall(r"<!-- walkthrough:([\w-]+) -->\n```bash\n(.*?)```", text, re.DOTALL)
    return dict(blocks)
