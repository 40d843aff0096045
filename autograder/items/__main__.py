"""``python -m autograder.items --markdown [--write README.md]``: the graded items and their weights.

Prints the markdown tables of :func:`autograder.items.markdown`; with ``--write FILE``, replaces the
text between ``<!-- items:begin -->`` and ``<!-- items:end -->`` in ``FILE`` with them instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.items import markdown

BEGIN, END = "<!-- items:begin -->", "<!-- items:end -->"


def replace_block(text: str, block: str) -> str:
    """``text`` with the region between the markers replaced by ``block``."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + text[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.items", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the items as markdown tables")
    parser.add_argument("--write", type=Path, help="replace the items block of this file (e.g. README.md)")
    args = parser.parse_args(argv)
    if args.write is not None:
        args.write.write_text(replace_block(args.write.read_text(), markdown()))
        return 0
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
