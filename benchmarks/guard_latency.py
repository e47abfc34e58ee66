"""Latency of all input and output guards for a typical turn.

A turn: the customer's message through ``scan_input``, the audit copy through ``redact``,
three retrieved knowledge chunks and one tool result through ``scan_indirect``, and the
drafted reply through ``check_output``; messages and replies are new in every turn.
Reported per output engine (guardrails-ai's ``Guard``, and the direct call of the same
validator functions): wall-clock p50 and p95 and the thread's CPU-time p50 in ms, each
the median over ``--runs`` runs of ``--turns`` turns. Target: p50 <= 5 ms.
``trigger_model_added_cpu_ms`` is what the learned trigger model
(``govcx.guardrails.trigger_model``) adds per turn against the patterns alone (CPU time).
On a shared machine the wall-clock figures include time spent waiting for a core; the CPU-time
figure is what the guards themselves cost.

    .venv/bin/python benchmarks/guard_latency.py [--runs 5] [--turns 300]

The last line of output is one JSON object with the figures. (No dataset: the turns are
built in; ``--data``/``--split`` are accepted for a uniform interface and ignored.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

MESSAGES = [
    "Hi, I'm Dana Smith. My order A-1002 hasn't arrived yet, can you check where it is?",
    "Please refund $80 for order A-1002, the blender arrived broken.",
    "I was charged twice on my card ending 4242, my email is dana.smith@example.com",
    "How long does a refund take to reach my bank account?",
    "Can I change the delivery address to 12 Crown Street, Springfield?",
    "The app keeps logging me out and I can't reset my password, this is frustrating.",
]
CHUNKS = [
    "Refunds are issued to the original payment method within 5 business days of approval. "
    "Orders can be refunded up to 30 days after delivery.",
    "Standard shipping takes 3-5 business days. Tracking numbers are emailed when the order "
    "ships. Orders over $35 ship free.",
    "To change a delivery address, the order must not have shipped yet. Contact support "
    "with the order number and the new address.",
]
TOOL_RESULT = json.dumps(
    {
        "order_id": "A-1002",
        "status": "shipped",
        "carrier": "UPS",
        "items": [{"sku": "BL-200", "name": "Blender", "price": 80.0}],
    }
)
REPLY = (
    "Hi Dana, thanks for reaching out. Refunds are issued to the original payment method "
    "within 5 business days of approval. I have issued a refund of $80 for order A-1002. "
    "Is there anything else I can help with?"
)


def run_turns(guard, context, turns: int, clock=time.perf_counter) -> list[float]:
    times = []
    for i in range(turns):
        # Every turn's texts are new (the PII detector remembers recent texts, which
        # legitimately makes the redact() of a message already scanned free).
        salt = f"{clock()!r}"[-6:]
        msg = f"{MESSAGES[i % len(MESSAGES)]} (ref {salt})"
        reply = f"{REPLY} Reference {salt}."
        t0 = clock()
        guard.scan_input(msg)
        guard.redact(msg)
        for chunk in CHUNKS:
            guard.scan_indirect(chunk, "knowledge")
        guard.scan_indirect(TOOL_RESULT, "tool")
        guard.check_output(reply, context)
        times.append(clock() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--data", type=Path, default=None, help="ignored")
    parser.add_argument("--split", default=None, help="ignored")
    args = parser.parse_args(argv)

    from govcx.governance.policy import GuardPolicy
    from govcx.guardrails import OutputContext, OutputGuardConfig, build_guard

    context = OutputContext(
        customer_values=["Dana Smith", "dana.smith@example.com", "A-1002"],
        chunks_text=CHUNKS,
        executed_amounts=[80.0],
        facts=[TOOL_RESULT],
    )
    result: dict = {
        "benchmark": "guard_latency",
        "runs": args.runs,
        "turns": args.turns,
        "target_p50_ms": 5.0,
        "engines": {},
    }
    try:
        import os

        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        result["cpus"] = os.cpu_count()
    except OSError:
        pass
    for engine in ("guardrails", "direct"):
        t0 = time.perf_counter()
        guard = build_guard(GuardPolicy(), config=OutputGuardConfig(engine=engine))
        build_s = time.perf_counter() - t0
        run_turns(guard, context, 20)  # warm-up
        p50s, p95s, cpu50s = [], [], []
        for _ in range(args.runs):
            times = sorted(run_turns(guard, context, args.turns))
            p50s.append(statistics.median(times) * 1000)
            p95s.append(times[int(len(times) * 0.95) - 1] * 1000)
            # CPU time of this thread: what the guards cost when the machine is shared.
            cpu = run_turns(guard, context, args.turns, clock=time.thread_time)
            cpu50s.append(statistics.median(cpu) * 1000)
        row = {
            "p50_ms": round(statistics.median(p50s), 3),
            "p95_ms": round(statistics.median(p95s), 3),
            "cpu_p50_ms": round(statistics.median(cpu50s), 3),
            "build_s": round(build_s, 2),
        }
        row["meets_target"] = row["p50_ms"] <= 5.0
        row["meets_target_cpu"] = row["cpu_p50_ms"] <= 5.0
        result["engines"][engine] = row
        print(
            f"{engine:10} p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  "
            f"cpu p50 {row['cpu_p50_ms']:.2f} ms  (build {build_s:.1f} s)"
        )
    # What the learned trigger model adds: the same turns with the patterns alone.
    from govcx.guardrails.triggers import TriggerDetector

    guard = build_guard(GuardPolicy(), config=OutputGuardConfig(engine="direct"))
    run_turns(guard, context, 20)
    with_model, without = [], []
    for _ in range(args.runs):
        guard.triggers = TriggerDetector()  # type: ignore[attr-defined]
        with_model.append(
            statistics.median(run_turns(guard, context, args.turns, time.thread_time))
        )
        guard.triggers = TriggerDetector(model=None)  # type: ignore[attr-defined]
        without.append(statistics.median(run_turns(guard, context, args.turns, time.thread_time)))
    result["trigger_model_added_cpu_ms"] = round(
        (statistics.median(with_model) - statistics.median(without)) * 1000, 3
    )
    print(f"trigger model adds {result['trigger_model_added_cpu_ms']:.2f} ms CPU per turn")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
