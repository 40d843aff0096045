"""The per-course draw secret: where it comes from, that it decides the draws, and that a regrade with
the same secret draws the same cases."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from autograder import draws
from autograder.invoke import LocalInvoker
from autograder.items import ITEMS
from autograder.properties import run_item


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(draws.ENV_SECRET, raising=False)
    monkeypatch.delenv(draws.ENV_FILE, raising=False)


def test_a_missing_secret_is_created_once_private_and_then_kept(tmp_path: Path, no_env: None) -> None:
    with pytest.raises(FileNotFoundError):
        draws.load_secret(tmp_path, create=False)
    first = draws.load_secret(tmp_path)
    path = tmp_path / draws.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and draws.load_secret(tmp_path) == first
    assert draws.load_secret(tmp_path / "elsewhere") != first  # another course, another secret


def test_concurrent_first_uses_agree_on_one_secret(tmp_path: Path, no_env: None) -> None:
    found: list[bytes] = []
    threads = [threading.Thread(target=lambda: found.append(draws.load_secret(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1
    assert [p.name for p in (tmp_path / ".autograder").iterdir()] == ["draw_secret"]  # no temp files


def test_environment_wins_over_the_file(
    tmp_path: Path, no_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(draws.ENV_FILE, str(tmp_path / "mine.txt"))
    (tmp_path / "mine.txt").write_text("from a file\n")
    assert draws.load_secret(tmp_path / "course") == b"from a file"
    monkeypatch.setenv(draws.ENV_SECRET, "from the environment")
    assert draws.load_secret(tmp_path / "course") == b"from the environment"


def test_the_course_root_is_the_folder_with_nbgrader_config(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text("")
    deep = tmp_path / "autograded" / "ada" / "conv_arithmetic"
    deep.mkdir(parents=True)
    assert draws.course_root_of(deep) == tmp_path.resolve()
    assert draws.course_root_of(Path("/")) is None or (Path("/") / "nbgrader_config.py").exists()


def _drawn_cases(secret: bytes) -> list[tuple]:
    """Every call the grader makes to a recording output_size, with ``secret``."""
    calls: list[tuple] = []

    def output_size(*args: object, **kwargs: object) -> int:
        calls.append((args, tuple(sorted(kwargs.items()))))
        return 1

    with draws.drawing_for(secret, "conv_arithmetic"):
        run_item(ITEMS["output_size"], LocalInvoker({"output_size": output_size}), detect_reference=False)
    return calls


def test_the_secret_decides_the_draws_and_regrades_repeat_them() -> None:
    first = _drawn_cases(b"course A, fall")
    assert first == _drawn_cases(b"course A, fall")  # a regrade: the very same calls
    other = _drawn_cases(b"course B, spring")
    generated_first = {c for c in first if c not in other}
    assert len(generated_first) >= len(first) // 2  # most generated cases differ between courses
    assert draws.seed("output_size", "x") is None  # outside a grading: no secret in force


def test_a_table_of_one_courses_draws_fails_in_another() -> None:
    """The memorized-draws cheat: answers looked up from a table harvested with another secret."""
    from course_lib.arithmetic import output_size as reference

    table: dict[tuple, object] = {}

    def key(args: tuple, kwargs: dict) -> tuple:
        return (args, tuple(sorted(kwargs.items())))

    def harvester(*args: object, **kwargs: object) -> object:
        try:
            answer: object = reference(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            answer = exc
        table[key(args, kwargs)] = answer
        if isinstance(answer, Exception):
            raise answer
        return answer

    def cheat(*args: object, **kwargs: object) -> object:
        answer = table.get(key(args, kwargs), 0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def score(function: object, secret: bytes) -> float:
        with draws.drawing_for(secret, "conv_arithmetic"):
            item = ITEMS["output_size"]
            return run_item(item, LocalInvoker({"output_size": function}), detect_reference=False).earned

    full = ITEMS["output_size"].points
    assert score(harvester, b"harvest term") == full
    assert score(cheat, b"harvest term") == full  # replayed in the course it was harvested in
    assert score(cheat, b"the next term") < full  # useless with another course's secret
