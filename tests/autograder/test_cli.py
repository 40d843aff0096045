"""``python -m autograder --help`` and every command's help: plain text (no reST markup), a description
and at least one example that starts with the command itself."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

COMMANDS = ["grade", "gradescope-bundle", "release", "course", "report"]
REST = re.compile(r"``|:(mod|func|class|meth|data):`")


def _help(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", *args, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_top_level_help_lists_every_command_in_plain_text() -> None:
    text = _help()
    assert not REST.search(text), REST.search(text)
    for command in COMMANDS:
        assert re.search(rf"^    {command}\b", text, re.MULTILINE), command
    assert "examples:" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_an_example(command: str) -> None:
    text = _help(command)
    assert not REST.search(text), REST.search(text)
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: python -m autograder {command}"), usage
    assert len(description.split()) >= 8 and not description.startswith(("positional", "options")), (
        description
    )
    examples = text[text.index("example") :]
    assert f"python -m autograder {command}" in examples, text
