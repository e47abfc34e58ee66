"""The eval runner: plays every case of some suites and checks what each step produced.

Cases are isolated (each gets a fresh state dir, see :class:`Workbench`) and independent,
so they run in parallel worker processes; results come back in suite order whatever the
order they finished in, so two runs of the same suites give the same report apart from
timings.

Example:
    >>> report = run_suites(load_suites(["src/govcx/packs/acme/evals"]), workers=2)
    >>> report.summary["pass_rate"]
    0.97
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from govcx.evals.expectation import check_turn
from govcx.evals.metrics import summarize
from govcx.evals.result import CaseResult, StepResult
from govcx.evals.suite import Case, Suite, case_policy
from govcx.evals.workbench import (
    GuardFactory,
    PlayResult,
    RetrieverFactory,
    Script,
    Workbench,
)
from govcx.governance.policy import Policy
from govcx.pack import load_pack

REPORT_FORMAT = "govcx-eval/1"

try:
    __version__ = metadata.version("govcx")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"


@dataclass(frozen=True, kw_only=True)
class Job:
    """One case to run, with its merged policy (validated before anything runs)."""

    order: int
    suite: str
    file: str
    case: Case
    tags: list[str]
    policy: Policy


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """Everything a run produced: metadata, summary metrics and per-case results."""

    run: dict[str, Any]
    summary: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "run": self.run,
            "summary": self.summary,
            "cases": [c.as_dict() for c in self.cases],
        }


def plan_jobs(suites: Sequence[Suite], policy: Policy, *, tags: Sequence[str] = ()) -> list[Job]:
    """The cases to run (those with any of ``tags``, if given), policies merged."""
    jobs: list[Job] = []
    wanted = set(tags)
    for suite in suites:
        for case in suite.cases:
            case_tags = suite.case_tags(case)
            if wanted and not wanted & set(case_tags):
                continue
            jobs.append(
                Job(
                    order=len(jobs),
                    suite=suite.name,
                    file=suite.file,
                    case=case,
                    tags=case_tags,
                    policy=case_policy(policy, case, file=suite.file),
                )
            )
    return jobs


def evaluate(job: Job, played: PlayResult, duration_ms: float) -> CaseResult:
    """Check each played step against its ``expect`` block."""
    steps = []
    for step, got in zip(job.case.turns, played.steps, strict=False):
        expect = step.expect
        failures: list[str] = []
        if expect is not None and expect.error is not None:
            if got.error_code is None:
                failures.append(
                    f"error: expected {expect.error}, the step succeeded "
                    f"(status {(got.turn or {}).get('status')})"
                )
            elif got.error_code != expect.error:
                failures.append(
                    f"error: expected {expect.error}, got {got.error_code}: {got.error}"
                )
        elif got.error_code is not None:
            failures.append(f"the step failed: {got.error_code}: {got.error}")
        elif expect is not None:
            if got.turn is None:
                failures.append("nothing happened (no turn to check)")
            else:
                failures.extend(check_turn(expect, got.turn, got.approval))
        turn = got.turn or {}
        decision = turn.get("decision") or {}
        reply = turn.get("reply") or {}
        gate = got.gate or {}
        steps.append(
            StepResult(
                index=got.index,
                kind=got.kind,
                input=got.input,
                expected_status=expect.status if expect is not None else None,
                status="error" if got.error_code else turn.get("status"),
                intent=turn.get("intent"),
                confidence=float(turn.get("confidence") or 0.0),
                route=decision.get("route"),
                rules=list(decision.get("rules") or []),
                tier=(got.approval or {}).get("tier") or gate.get("tier"),
                approvals_needed=(got.approval or {}).get("approvals_needed"),
                actions=[
                    {k: a.get(k) for k in ("tool", "args", "status", "error")}
                    for a in turn.get("actions") or []
                ],
                reply=reply.get("text"),
                citations=[str(c.get("doc_id")) for c in reply.get("citations") or []],
                findings=sorted({str(f.get("type")) for f in turn.get("findings") or []}),
                error=f"{got.error_code}: {got.error}" if got.error_code else None,
                latency_ms=round(got.latency_ms, 2),
                failures=failures,
            )
        )
    return CaseResult(
        suite=job.suite,
        case_id=job.case.id,
        file=job.file,
        description=job.case.description,
        tags=job.tags,
        customer=job.case.customer,
        policy_version=played.policy_version,
        steps=steps,
        violations=[v.as_dict() for v in played.violations],
        unauthenticated_decisions=list(played.unauthenticated),
        error=played.error,
        duration_ms=round(duration_ms, 1),
    )


def run_job(bench: Workbench, job: Job) -> CaseResult:
    started = time.perf_counter()
    script = Script(
        conversation_id=f"eval-{job.case.id}", customer=job.case.customer, steps=job.case.turns
    )
    played = bench.play(script, job.policy)
    return evaluate(job, played, (time.perf_counter() - started) * 1000)


# -- worker processes ---------------------------------------------------------------------
_BENCH: Workbench | None = None
T = TypeVar("T")
R = TypeVar("R")


def _init_worker(
    pack_dir: str | None,
    root: str,
    retriever_factory: RetrieverFactory | None,
    guard_factory: GuardFactory | None,
) -> None:
    global _BENCH
    folder = Path(tempfile.mkdtemp(prefix="worker-", dir=root))
    _BENCH = Workbench(
        pack_dir, root=folder, retriever_factory=retriever_factory, guard_factory=guard_factory
    )


def _call(fn: Callable[[Workbench, T], R], item: T) -> R:
    if _BENCH is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker not initialised")
    return fn(_BENCH, item)


def _context() -> Any:
    # fork shares the parent's imports (seconds of start-up per worker saved); it is safe
    # here because the parent opens no database or thread before the workers start.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def parallel_map(
    fn: Callable[[Workbench, T], R],
    items: Sequence[T],
    *,
    pack_dir: str | Path | None = None,
    workers: int = 1,
    on_result: Callable[[R], None] | None = None,
    on_start: Callable[[], None] | None = None,
    retriever_factory: RetrieverFactory | None = None,
    guard_factory: GuardFactory | None = None,
) -> list[R]:
    """``fn(workbench, item)`` for every item, in worker processes when ``workers`` > 1.

    ``fn`` must be a module-level function. Results come back in item order, and
    ``on_result`` sees them in that order too.
    """
    results: list[R] = []
    with tempfile.TemporaryDirectory(prefix="govcx-eval-") as root:
        if workers <= 1 or len(items) <= 1:
            bench = Workbench(
                pack_dir,
                root=Path(root),
                retriever_factory=retriever_factory,
                guard_factory=guard_factory,
            )
            if on_start:
                on_start()
            for item in items:
                result = fn(bench, item)
                results.append(result)
                if on_result:
                    on_result(result)
            return results
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(items)),
            mp_context=_context(),
            initializer=_init_worker,
            initargs=(str(pack_dir) if pack_dir else None, root, retriever_factory, guard_factory),
        )
        with pool:
            futures: list[Future[R]] = [pool.submit(_call, fn, item) for item in items]
            if on_start:
                on_start()
            for future in futures:
                result = future.result()
                results.append(result)
                if on_result:
                    on_result(result)
    return results


def run_suites(
    suites: Sequence[Suite],
    *,
    pack_dir: str | Path | None = None,
    workers: int = 1,
    tags: Sequence[str] = (),
    on_result: Callable[[CaseResult], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    retriever_factory: RetrieverFactory | None = None,
    guard_factory: GuardFactory | None = None,
) -> RunReport:
    """Run the cases of ``suites`` on a pack and summarise them.

    Args:
        suites: Loaded suites (see :func:`govcx.evals.suite.load_suites`).
        pack_dir: The pack folder (None: the bundled acme pack).
        workers: Worker processes (1 runs in this process).
        tags: Run only cases that carry one of these tags.
        on_result: Called with each case result as soon as it is known (in order).
        on_plan: Called with the number of cases before they start.
    """
    pack = load_pack(pack_dir)
    # Only the policy is needed here; close the pack's MCP servers (and their thread) before
    # the workers fork, and let each worker connect its own.
    pack.close()
    jobs = plan_jobs(suites, pack.policy, tags=tags)
    if on_plan:
        on_plan(len(jobs))
    started = datetime.now(UTC)
    clock = time.perf_counter()
    results = parallel_map(
        run_job,
        jobs,
        pack_dir=pack_dir,
        workers=workers,
        on_result=on_result,
        retriever_factory=retriever_factory,
        guard_factory=guard_factory,
    )
    duration = time.perf_counter() - clock
    run = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 2),
        "pack": pack.name,
        "pack_dir": str(pack.root),
        "policy_version": pack.policy.version,
        "suites": [{"name": s.name, "file": s.file, "cases": len(s.cases)} for s in suites],
        "tags": list(tags),
        "workers": workers,
        "govcx_version": __version__,
    }
    return RunReport(run=run, summary=summarize(results), cases=results)
