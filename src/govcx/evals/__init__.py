"""govcx.evals: eval suites, the runner, governance compliance, reports, policy simulation
and autonomy readiness.

Example:
    >>> from govcx.evals import load_suites, run_suites
    >>> report = run_suites(load_suites(["src/govcx/packs/acme/evals"]), workers=2)
    >>> report.summary["pass_rate"], report.summary["compliance"]["rate"]
    (0.97, 1.0)
"""

from __future__ import annotations

from govcx.errors import SuiteError
from govcx.evals.result import CaseResult, StepResult
from govcx.evals.runner import RunReport, __version__, run_suites
from govcx.evals.suite import Case, Expect, Step, Suite, load_suite, load_suites

__all__ = [
    "Case",
    "CaseResult",
    "Expect",
    "RunReport",
    "Step",
    "StepResult",
    "Suite",
    "SuiteError",
    "__version__",
    "load_suite",
    "load_suites",
    "run_suites",
]
