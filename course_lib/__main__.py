"""``python -m course_lib demo``: every worked example of the lecture, computed live with course_lib.

Each line shows the value computed now next to the value the lecture states; the command exits with
status 1 if any of them disagree.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from course_lib import worked_examples as ex
from course_lib.conv import convolve2d_true
from course_lib.validation import Array


def _grid(a: Array) -> list[str]:
    """Rows of an integer-valued matrix, right-aligned."""
    width = max(len(f"{v:g}") for v in a.ravel())
    return [" ".join(f"{v:g}".rjust(width) for v in row) for row in a]


def _side_by_side(titles: Sequence[str], arrays: Sequence[Array], gap: int = 6) -> list[str]:
    blocks = [[title, *_grid(a)] for title, a in zip(titles, arrays, strict=True)]
    widths = [max(len(line) for line in block) for block in blocks]
    height = max(len(block) for block in blocks)
    lines = []
    for i in range(height):
        cells = [(b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths, strict=True)]
        lines.append("    " + (" " * gap).join(cells).rstrip())
    return lines


class Report:
    """Collects the demo's lines and counts agreements with the lecture."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.checked = 0
        self.failed = 0

    def say(self, *lines: str) -> None:
        self.lines.extend(lines)

    def tally(self, same: bool) -> str:
        """Count one comparison with the lecture; "ok" or "MISMATCH"."""
        self.checked += 1
        self.failed += not same
        return "ok" if same else "MISMATCH"

    def verify(self, label: str, same: bool, detail: str) -> None:
        self.say(f"    {label:<34} {detail:<42} {self.tally(same)}")

    def check(self, label: str, computed: object, stated: object) -> None:
        """``label = computed`` next to the lecture's value."""
        same = bool(np.array_equal(np.asarray(computed), np.asarray(stated)))
        got, want = (f"{v:,}" if isinstance(v, int) else str(v) for v in (computed, stated))
        self.verify(label, same, f"= {got:<16} lecture: {want}")


def demo() -> int:
    r = Report()
    r.say("course_lib demo: the lecture's worked examples, computed live", "")

    r.say("1. Convolution by hand (cross-correlation, conv2d_single)")
    for conv in (ex.CHECKERBOARD, ex.VERTICAL_EDGE):
        out = conv.compute()
        r.say(f"  {conv.name}", *_side_by_side(["image", "kernel", "output"], [conv.image, conv.kernel, out]))
        r.check(f"output[{conv.at[0]}, {conv.at[1]}]", f"{out[conv.at]:g}", f"{conv.value:g}")
        r.verify("whole output map", bool(np.array_equal(out, conv.expected_map)), "= the map worked by hand")
        r.say(f"    -> {conv.lesson}", "")
    flipped = convolve2d_true(ex.VERTICAL_EDGE.image, ex.VERTICAL_EDGE.kernel)
    r.say(
        "  True convolution flips the kernel first: on the edge input it gives",
        *_side_by_side(["convolve2d_true"], [flipped]),
        "    -> the negated map: flipping [1, 0, -1] gives [-1, 0, 1]. Learned kernels absorb the flip.",
        "",
    )

    r.say("2. Max pooling 2x2, stride 2 (maxpool2d)")
    pooled = ex.MAXPOOL.compute()
    r.say(*_side_by_side(["input", "pooled"], [ex.MAXPOOL.image, pooled]))
    r.check("pooled", pooled.astype(int).tolist(), ex.MAXPOOL.expected.astype(int).tolist())
    r.say("")

    r.say("3. Output size floor((W + 2P - K) / S) + 1 (output_size)")
    for o in ex.OUTPUT_SIZES:
        r.check(f"W={o.input_size} K={o.kernel_size} P={o.padding} S={o.stride}", o.compute(), o.expected)
    r.say("")

    r.say("4. Receptive field RF_l = RF_(l-1) + (k_l - 1) d_l prod(s) (receptive_field)")
    for rf in ex.RECEPTIVE_FIELDS:
        r.check(rf.description, rf.compute(), rf.expected)
    r.say("")

    r.say("5. Parameters of a convolution k^2 C_in C_out + C_out (conv2d_params)")
    for p in ex.CONV_PARAMS:
        label = f"{p.in_channels} -> {p.out_channels}, {p.kernel_size}x{p.kernel_size}"
        r.check(label, p.compute(), p.expected)
    r.say("")

    row0 = ex.FC_VS_CONV[0]
    r.say(
        f"6. Fully connected ({row0.hidden} hidden units) vs {row0.filters} {row0.kernel_size}x"
        f"{row0.kernel_size} conv filters: weights (with biases)"
    )
    header = f"    {'input':<12}{'FC weights':>14}{'FC + bias':>14}{'conv weights':>14}{'conv + bias':>14}"
    r.say(header, "    " + "-" * (len(header) - 4))
    for row in ex.FC_VS_CONV:
        got = row.compute()
        shape = f"{row.height}x{row.width}x{row.channels}"
        r.say(f"    {shape:<12}" + "".join(f"{v:>14,}" for v in got) + f"  {r.tally(got == row.expected)}")
    r.say("")

    verdict = "all agree with the lecture" if r.failed == 0 else f"{r.failed} DISAGREE with the lecture"
    r.say(f"{r.checked} worked examples checked: {verdict}.")
    print("\n".join(r.lines))
    return 0 if r.failed == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="print every worked example of the lecture, computed live")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
