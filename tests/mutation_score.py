"""Summarise `mutmut results --all true` (read on stdin): killed / survived / timeouts per
file and the mutation score, then list the survivors (``make mutation`` prints this).

Exit status 0 always: the score is reported, not enforced (see the issue notes for the
survivors judged equivalent)."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<name>\S+?)__mutmut_\d+: (?P<status>.+?)\s*$")
MODULE = re.compile(r"^(?P<module>.*?)\.x[_ǁ]")


def main() -> int:
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for raw in sys.stdin:
        match = LINE.match(raw)
        if not match:
            continue
        name, status = match["name"], match["status"]
        module = MODULE.match(name)
        path = "src/" + (module["module"] if module else name).replace(".", "/") + ".py"
        by_file[path][status] += 1
        if status in ("survived", "suspicious", "no tests"):
            survivors.append(raw.strip())
    if not by_file:
        print("no mutmut results found (run `mutmut run` first)")
        return 0
    print(
        f"{'file':42} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} "
        f"{'other':>6} {'score':>7}"
    )
    total: Counter[str] = Counter()
    for path in sorted(by_file):
        counts = by_file[path]
        total.update(counts)
        print(_row(path, counts))
    print(_row("total", total))
    if survivors:
        print("\nsurviving mutants (`mutmut show NAME` prints the diff):")
        for line in survivors:
            print("  " + line)
    return 0


def _row(label: str, counts: Counter[str]) -> str:
    n = sum(counts.values())
    killed, survived, timeout = counts["killed"], counts["survived"], counts["timeout"]
    other = n - killed - survived - timeout
    # Timeouts count as detected (the mutant made the tests hang), as mutmut itself does.
    score = (killed + timeout) / n * 100 if n else 0.0
    return f"{label:42} {n:>7} {killed:>7} {survived:>8} {timeout:>7} {other:>6} {score:>6.1f}%"


if __name__ == "__main__":
    raise SystemExit(main())
