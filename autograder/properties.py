r"""The property runner: ``run_item(item, invoker) -> ItemResult``.

For each property of an item, the explicit examples (the lecture's worked examples) run first, in
order; then hypothesis draws cases from the property's strategy. For every case the grader computes
the expected value itself (from the case data, before the student's code runs), asks the invoker to
run the student's code on a copy, and compares (:mod:`autograder.compare`). The first failure is
shrunk to the smallest failing call, which the feedback names in the student's terms::

    conv2d: handles stride: FAILED (0/2)
      smallest failing call: conv2d(x.shape=(1, 1, 3, 3), w.shape=(1, 1, 2, 2), stride=2, padding=0)
      expected shape (1, 1, 1, 1), got (1, 1, 2, 2)

Hypothesis runs derandomized, without an example database, with a fixed number of examples per
property, no deadline and no health checks, so the same submission always gets the same cases, the
same score and the same text. Shrinking is bounded by a number of student calls (not by time): after
:data:`SHRINK_CALLS` calls a property keeps the smallest failing call found so far.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.configuration import set_hypothesis_home_dir

from autograder import draws
from autograder.compare import Tolerance, compare, describe_value
from autograder.invoke import Invoker, StudentError, StudentTimeout, truncate
from autograder.result import ItemResult, PropResult
from autograder.strategies import describe_array

if TYPE_CHECKING:
    from autograder.items import Call, Item, Prop


def _isolate_hypothesis() -> None:
    """Make the drawn cases depend on the grader's settings and seed only.

    - Hypothesis (>= 6.131) mixes into its draws numeric and string constants harvested from every
      *local* module in ``sys.modules``: the grader's, the kernel's, even a student's helper file.
      Draws would then differ between the in-kernel and the sandboxed path, change when any local
      file changes, and could be steered by a student. The grader switches that pool off.
    - Hypothesis keeps a cache folder (``.hypothesis/``) in the working directory even with no
      example database; in a student's notebook folder that is litter, so it goes to the user's
      cache directory instead (``HYPOTHESIS_STORAGE_DIRECTORY`` still wins).
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - an older hypothesis has no local-constant pool
        pass
    else:
        if hasattr(providers, "_get_local_constants"):
            no_constants = providers.Constants()
            providers._get_local_constants = lambda: no_constants
    if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        set_hypothesis_home_dir(cache / "autograder" / "hypothesis")


_isolate_hypothesis()

#: Most student calls spent on shrinking one failing property.
SHRINK_CALLS = 60
#: Longest feedback line (characters).
MAX_LINE = 240
#: Exceptions a "rejects ..." property (``expect="raises"``) accepts.
INVALID_ARGUMENT_ERRORS = ("ValueError", "TypeError")

#: The grader's hypothesis settings (independent of any profile loaded in the kernel).
GRADING_SETTINGS = settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    verbosity=Verbosity.quiet,
    phases=(Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)


def describe_call(item: Item, call: Call) -> str:
    """``name(arg=..., ...)`` with arrays as ``x.shape=(...)`` (plus values when small), or the item's
    own description of the call."""
    if item.describe is not None:
        return truncate(item.describe(call), MAX_LINE)
    parts = [_describe_arg(name, value) for name, value in zip(item.params, call.args, strict=False)]
    parts += [_describe_arg(name, value) for name, value in call.kwargs.items()]
    return truncate(f"{item.grade_id}({', '.join(parts)})", MAX_LINE)


def _describe_arg(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        return describe_array(name, value)
    return f"{name}={value!r}"


def _error_text(err: StudentError) -> str:
    if isinstance(err, StudentTimeout):
        return f"timed out: {err.message}"
    if err.type_name == "WireError":
        return f"returned a value that cannot be graded: {err.message}"
    return f"raised {err.type_name}: {err.message}" if err.message else f"raised {err.type_name}"


#: Most bytes of one item's results the grader keeps for reuse across properties (the course's
#: results are at most a few megabytes; a wrong answer of hundreds is not kept).
OUTCOME_BYTES = 64 * 2**20


def result_bytes(value: Any, depth: int = 0) -> int:
    """Approximate bytes held by a decoded result: arrays' buffers, strings, and containers' items."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple)) and depth < 20:
        return 64 + sum(result_bytes(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 20:
        return 64 + sum(result_bytes(k, depth + 1) + result_bytes(v, depth + 1) for k, v in value.items())
    return 64


@dataclass
class _Tally:
    """One item's run: counts over the student's calls (to recognise stubs and missing names), and
    the outcomes of calls and reference results already computed (properties often share cases)."""

    calls: int = 0
    not_implemented: int = 0
    missing: int = 0
    raised: int = 0
    timed_out: bool = False
    outcomes: dict[tuple[str | None, bytes], tuple[StudentError | None, Any]] = field(default_factory=dict)
    references: dict[bytes, Any] = field(default_factory=dict)
    kept_bytes: int = 0  # of the student's results in ``outcomes`` (at most OUTCOME_BYTES)

    def keep(self, key: tuple[str | None, bytes], outcome: tuple[StudentError | None, Any]) -> None:
        """Remember ``outcome`` for later properties with the same case, within the byte budget (a
        function that returns huge results must not grow the grader: it is simply called again)."""
        size = result_bytes(outcome[1])
        if self.kept_bytes + size <= OUTCOME_BYTES:
            self.outcomes[key] = outcome
            self.kept_bytes += size

    def record(self, grade_id: str, err: StudentError | None) -> None:
        self.calls += 1
        self.raised += err is not None
        if err is not None and err.type_name == "NotImplementedError":
            self.not_implemented += 1
        if err is not None and err.type_name == "NameError" and repr(grade_id) in err.message:
            self.missing += 1
        self.timed_out |= isinstance(err, StudentTimeout)


@dataclass
class _PropertyRun:
    """Runs one property's cases against the student, memoising verdicts per case."""

    item: Item
    prop: Prop
    invoker: Invoker
    tally: _Tally
    calls: int = 0
    budget: int = 0
    timed_out: list[str] | None = None
    memo: dict[bytes, list[str] | None] = field(default_factory=dict)
    last_failure: tuple[Call, list[str]] | None = None

    def failure(self, call: Call) -> list[str] | None:
        """None when the student's code satisfies the property on ``call``, else the message lines."""
        key = hashlib.sha256(pickle.dumps((call.args, call.kwargs), protocol=4)).digest()
        if key in self.memo:
            if self.memo[key] is not None:  # hypothesis re-ran a failing case: the current best
                self.last_failure = (call, self.memo[key] or [])
            return self.memo[key]
        if self.timed_out is not None or self.calls >= self.budget:
            raise _OutOfBudget  # stop hypothesis; the smallest failure found so far is reported
        self.calls += 1
        verdict = self._verdict(call, key)
        self.memo[key] = verdict
        if verdict is not None:
            stub = self.tally.not_implemented == self.tally.calls
            if stub and self.last_failure is not None:
                raise _OutOfBudget  # every call raised NotImplementedError: nothing to shrink
            self.last_failure = (call, verdict)  # the shrinker only tries smaller cases: the smallest
        return verdict

    def _outcome(self, call: Call, key: bytes, probe: str | None) -> tuple[StudentError | None, Any]:
        """(error, result) of the student's call, run once per item for each case and probe."""
        cached = self.tally.outcomes.get((probe, key))
        if cached is not None:
            return cached
        try:
            outcome: tuple[StudentError | None, Any] = (
                None,
                self.invoker.call(self.item.grade_id, call.args, call.kwargs, probe=probe),
            )
        except StudentError as err:
            outcome = (err, None)
        self.tally.record(self.item.grade_id, outcome[0])
        self.tally.keep((probe, key), outcome)
        return outcome

    def _verdict(self, call: Call, key: bytes) -> list[str] | None:
        item, prop = self.item, self.prop
        expected: Any = None
        if prop.expect == "value":  # computed before the student's code runs
            if key not in self.tally.references:
                self.tally.references[key] = item.reference(*call.args, **call.kwargs)
            expected = item.select(self.tally.references[key], prop.keys)
        probe = prop.probe or ("inputs_after_call" if prop.expect == "unchanged" else item.probe)
        err, got = self._outcome(call, key, probe)
        if isinstance(err, StudentTimeout):
            self.timed_out = [_error_text(err)]
            return self.timed_out
        if err is not None:
            if prop.expect == "raises" and err.type_name in INVALID_ARGUMENT_ERRORS:
                return None
            if prop.expect == "unchanged":  # the raise is the finding: nothing to say about the inputs
                return [f"{_error_text(err)} (so its inputs could not be checked)"]
            return [_error_text(err)]
        if prop.expect == "raises":
            rule = f" ({call.note})" if call.note else ""
            return [f"expected ValueError or TypeError{rule}, but it returned {describe_value(got)}"]
        if prop.expect == "unchanged":
            return _modified_inputs(item, call, got)
        if prop.keys is not None and item.outputs:  # compare some values of a tuple result
            if not isinstance(got, tuple | list) or len(got) != len(item.outputs):
                names = ", ".join(item.outputs)
                return [f"expected {len(item.outputs)} values ({names}), got {describe_value(got)}"]
            got = dict(zip(item.outputs, got, strict=True))
        if prop.keys is not None and isinstance(got, dict):
            got = {k: got[k] for k in prop.keys if k in got}
        if prop.judge is not None:
            verdict = prop.judge(call, expected, got)
            return None if verdict is None else [verdict]
        message = compare(expected, got, prop.tol, item.outputs)
        return None if message is None else [message]


def _modified_inputs(item: Item, call: Call, got: Any) -> list[str] | None:
    """Compare the inputs as they were after the call with the originals (exactly)."""
    if not isinstance(got, list | tuple) or len(got) != len(call.args):
        return [f"could not inspect the inputs after the call ({describe_value(got)})"]
    exact = Tolerance(0.0, 0.0)
    for name, before, after in zip(item.params, call.args, got, strict=False):
        if isinstance(before, np.ndarray):
            message = compare(before, after, exact)
            if message is not None:
                return [f"modified its input {name}: {message}"]
    return None


class _OutOfBudget(BaseException):
    """Ends a hypothesis run early (a BaseException, so hypothesis does not treat it as a failure)."""


class _Failed(Exception):
    """Raised inside the hypothesis test to mark a failing case."""

    def __init__(self, call: Call, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "failed")
        self.call = call
        self.lines = lines


def run_property(item: Item, prop: Prop, invoker: Invoker, tally: _Tally | None = None) -> PropResult:
    """Run one property: its explicit examples, then its generated cases (shrunk on failure)."""
    tally = tally if tally is not None else _Tally()
    budget = len(prop.examples) + prop.max_examples + SHRINK_CALLS
    run = _PropertyRun(item, prop, invoker, tally, budget=budget)
    for call in prop.examples:
        lines = run.failure(call)
        if lines is not None:
            return _failed(item, prop, "failing call", call, lines)
    if prop.cases is None:
        return PropResult(prop.name, prop.weight, True)

    def check_case(call: Call) -> None:
        lines = run.failure(call)
        if lines is not None:
            raise _Failed(call, lines)

    test = settings(GRADING_SETTINGS, max_examples=prop.max_examples)(given(prop.cases)(check_case))
    drawn_from = draws.seed(item.grade_id, prop.name)
    if drawn_from is not None:  # the course's secret decides the draws (autograder.draws)
        test = hypothesis_seed(drawn_from)(test)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test()
    except _Failed as exc:
        return _failed(item, prop, "smallest failing call", exc.call, exc.lines)
    except (_OutOfBudget, Exception):
        # Out of budget, or hypothesis gave up (e.g. a flaky student function): report the last
        # failure, the smallest found so far. Without one it is not the student's fault: re-raise.
        if run.last_failure is None:
            raise
        call, lines = run.last_failure
        return _failed(item, prop, "smallest failing call", call, lines)
    return PropResult(prop.name, prop.weight, True)


def _failed(item: Item, prop: Prop, label: str, call: Call, lines: list[str]) -> PropResult:
    text = [truncate(f"{label}: {describe_call(item, call)}", MAX_LINE)]
    text += [truncate(line, MAX_LINE) for line in lines[:2]]
    return PropResult(prop.name, prop.weight, False, tuple(text))


def run_item(item: Item, invoker: Invoker, detect_reference: bool = True) -> ItemResult:
    """Grade one item: a provenance check, then every property in order.

    With ``detect_reference`` (always, except when the test suite grades the reference itself), a
    solution that is, wraps or calls course_lib/autograder earns 0 and is flagged.
    """
    if detect_reference:
        flag = _provenance(item, invoker)
        if flag is not None:
            return _flagged(item, flag)
    tally = _Tally()
    results: list[PropResult] = []
    for prop in item.properties:
        stub = bool(results) and tally.not_implemented == tally.calls > 0
        if tally.timed_out or stub:  # one slow call is enough (the rest would time out too); a stub
            why = "an earlier call timed out" if tally.timed_out else "raises NotImplementedError"
            results.append(PropResult(prop.name, prop.weight, False, (f"not run: {why}",)))
        else:
            results.append(run_property(item, prop, invoker, tally))
    if tally.calls and tally.raised == tally.calls:
        # a function that raises on every call, valid ones included, has not rejected anything
        never = ("not credited: it raised on every call, valid ones included",)
        results = [
            PropResult(r.name, r.weight, False, never) if p.expect == "raises" and r.passed else r
            for p, r in zip(item.properties, results, strict=True)
        ]
    results = _credit_side_conditions(item, results)
    reference_calls = getattr(invoker, "reference_calls", [])  # recorded by the in-kernel invoker
    if detect_reference and reference_calls:
        return _flagged(item, f"calls {reference_calls[0]}")
    replaced = getattr(invoker, "replaced_attributes", [])  # monkeypatching, undone by the invoker
    if replaced:
        message = f"replaced {', '.join(replaced[:3])} while running: 0 points, flagged for review"
        return ItemResult(
            item.grade_id, item.points, tuple(results), "flagged", message, flags=("tampering",)
        )
    if tally.calls and tally.not_implemented == tally.calls:
        message = f"not implemented yet: {item.grade_id} raises NotImplementedError"
        return ItemResult(item.grade_id, item.points, tuple(results), "not_implemented", message)
    if tally.calls and tally.missing == tally.calls:
        message = f"not found: the submission does not define {item.grade_id}"
        return ItemResult(item.grade_id, item.points, tuple(results), "missing", message)
    return ItemResult(item.grade_id, item.points, tuple(results))


def _credit_side_conditions(item: Item, results: list[PropResult]) -> list[PropResult]:
    """Side conditions ("does not modify its inputs", "rejects ...", "returns an int") earn their
    weight only when at least one main property of the item passed: doing nothing earns nothing."""
    pairs = list(zip(item.properties, results, strict=True))
    if any(r.passed for p, r in pairs if not p.is_side):
        return results
    line = f"not credited: a side condition earns points only when a main property of {item.grade_id} passes"
    return [PropResult(r.name, r.weight, False, (line,)) if p.is_side and r.passed else r for p, r in pairs]


def _provenance(item: Item, invoker: Invoker) -> str | None:
    """A description of how the student's object refers to the reference, or None."""
    try:
        found = invoker.call(item.grade_id, (), {}, probe="provenance")
    except StudentError:
        return None
    return found if isinstance(found, str) and found else None


def _flagged(item: Item, finding: str) -> ItemResult:
    message = (
        f"uses the course's reference implementation ({truncate(finding, 160)}): 0 points, flagged for review"
    )
    return ItemResult(item.grade_id, item.points, (), "flagged", message, flags=("reference",))
