"""The impact reports of policy proposals, computed in the background by the server.

Replaying the eval suites and the recorded conversations under two policies takes
minutes on a real pack: far longer than an HTTP request may hang behind a proxy. So
``POST /v1/policy/proposals`` stores the proposal with its report ``pending`` and answers
at once; an :class:`ImpactWorker` (one thread per server process: one report at a time)
computes it and stores it as ``done``, or as ``failed`` with the error's message.

The state lives in the database, not in the process: a worker *claims* a report with a
compare-and-set on ``(impact_status, impact_claimed_at)``, so of several server
processes sharing one database exactly one computes it, and stores the result under the
same guard. While it computes, the worker renews its claim (a heartbeat, every third of
the lease), so a report ``running`` on a claim older than the lease (``GOVCX_IMPACT_LEASE``)
belongs to a worker that died: the periodic sweep (and every server start) claims it again.

Example:
    >>> worker = ImpactWorker(agent, impact_report, lease=900)  # doctest: +SKIP
    >>> worker.start(); worker.submit(proposal.proposal_id)     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from govcx.agent.agent import Agent
from govcx.errors import GovcxError, ProposalTampered
from govcx.governance.proposals import ImpactClaim

log = logging.getLogger("govcx.api")

ImpactReport = Callable[..., dict[str, Any]]
"""``impact(agent, candidate, days=N) -> report``: the impact report of a policy proposal
(``govcx.evals.impact.impact_report``, passed in by ``govcx serve``)."""

MAX_ERROR = 1000
"""Characters of an error message kept with a failed report (the traceback is logged)."""


class ImpactWorker:
    """Computes pending impact reports on one background thread.

    Args:
        agent: The server's Agent (its proposals, database and clock).
        impact: The report function (``govcx.evals.impact.impact_report``).
        lease: Seconds a claim holds before another worker may take the report over.
        heartbeat: Seconds between renewals of the claim while a report is computed
            (default a third of the lease, at least one second).
    """

    def __init__(
        self, agent: Agent, impact: ImpactReport, *, lease: float, heartbeat: float | None = None
    ) -> None:
        self.agent = agent
        self.impact = impact
        self.lease = lease
        self.heartbeat = heartbeat if heartbeat is not None else max(lease / 3, 1.0)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once). A daemon: a server stopping mid-report does not wait
        minutes for it; the report's claim expires and another start finishes it."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="govcx-impact", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to end after the report it is computing (waits ``timeout``)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def submit(self, proposal_id: str) -> None:
        """Queue the report of ``proposal_id`` (once, however often it is submitted)."""
        with self._lock:
            if proposal_id in self._queued:
                return
            self._queued.add(proposal_id)
        self._queue.put(proposal_id)
        self.start()

    def sweep(self) -> int:
        """Queue every report that is due: pending, or running on an expired claim.
        Returns how many were found."""
        due = self.agent.proposals.impact_due(now=self.agent.clock(), lease=self.lease)
        for seen in due:
            self.submit(seen.proposal_id)
        return len(due)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued report is computed (or skipped); False on timeout.
        For tests and shutdown scripts: a condition, not a sleep."""
        done = threading.Event()

        def join() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)

    def _loop(self) -> None:
        while True:
            proposal_id = self._queue.get()
            try:
                if proposal_id is None:
                    return
                with self._lock:
                    self._queued.discard(proposal_id)
                self.run(proposal_id)
            except Exception:  # keep the thread alive; the sweep retries the report
                log.exception("impact report of %s: the worker failed", proposal_id)
            finally:
                self._queue.task_done()

    # -- one report -----------------------------------------------------------------------
    def run(self, proposal_id: str) -> str | None:
        """Claim and compute the report of ``proposal_id`` if it is due; returns the
        status stored (``done`` or ``failed``), or None when there was nothing to do
        (not due, or another worker claimed it first)."""
        store = self.agent.proposals
        due = store.impact_due(now=self.agent.clock(), lease=self.lease, proposal_id=proposal_id)
        if not due:
            return None
        claim = store.claim_impact(due[0], now=self.agent.clock())
        if claim is None:
            return None
        return self.compute(claim)

    def compute(self, claim: ImpactClaim) -> str | None:
        """Compute a claimed report and store it; None when the claim was lost meanwhile
        (the report outlived its lease and another worker took it over)."""
        store = self.agent.proposals
        pid = claim.proposal_id
        report: dict[str, Any] | None = None
        error: str | None = None
        heartbeat = _Heartbeat(self.agent, claim, every=self.heartbeat)
        heartbeat.start()
        try:
            proposal = store.get(pid)
            log.info("impact report of %s: replaying conversations", pid)
            report = self.impact(self.agent, proposal.candidate, days=proposal.impact_days)
        except ProposalTampered as exc:
            error = exc.message
        except Exception as exc:
            log.exception("impact report of %s failed", pid)
            error = self._describe(exc)
        finally:
            claim = heartbeat.stop()
        if not store.finish_impact(claim, report=report, error=error):
            log.warning(
                "impact report of %s: the claim was taken over (older than %ss); "
                "this result is dropped",
                pid,
                self.lease,
            )
            return None
        log.info("impact report of %s: %s", pid, "done" if report is not None else "failed")
        return "done" if report is not None else "failed"

    def _describe(self, exc: Exception) -> str:
        """The error as the reviewer sees it: its message, redacted like every stored
        text (a replayed conversation may be quoted), never a traceback."""
        text = exc.message if isinstance(exc, GovcxError) else f"{type(exc).__name__}: {exc}"
        text = self.agent.guard.redact(text.strip() or type(exc).__name__)
        return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class _Heartbeat:
    """Renews a claim every ``every`` seconds while its report is computed, so a report
    that runs longer than the lease is not taken over (and computed twice) by another
    worker. A worker that dies stops renewing: its claim expires one lease later."""

    def __init__(self, agent: Agent, claim: ImpactClaim, *, every: float) -> None:
        self.agent = agent
        self.claim = claim
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="govcx-impact-beat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> ImpactClaim:
        """Stop renewing; returns the claim as last renewed (the token to finish with)."""
        self._stop.set()
        self._thread.join()
        return self.claim

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                renewed = self.agent.proposals.renew_impact(self.claim, now=self.agent.clock())
            except Exception:  # a database hiccup: try again at the next beat
                log.exception(
                    "impact report of %s: renewing the claim failed", self.claim.proposal_id
                )
                continue
            if renewed is None:
                log.warning(
                    "impact report of %s: the claim was taken over; its result will be dropped",
                    self.claim.proposal_id,
                )
                return
            self.claim = renewed
