"""`make mutate`'s summary: mutmut's verdicts per engine module, and the mutation score.

Reads ``mutmut results --all true`` (one ``name: status`` line per mutant) and prints, per module,
how many mutants were killed, survived, timed out or were not checked, with the score
killed ÷ (killed + survived + timed out) over the mutants that were run. Figures only.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

KILLED = {"killed", "caught by type check"}
RUN = KILLED | {"survived", "timeout", "suspicious", "segfault"}


def verdicts(text: str) -> dict[str, collections.Counter[str]]:
    """Counts of each status per module (``unirouter.engine.dispatch``) from mutmut's listing."""
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in text.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        module = name.split(".x", 1)[0] if ".x" in name else name.rsplit(".", 1)[0]
        per[module][status.strip()] += 1
    return per


def report(per: dict[str, collections.Counter[str]]) -> str:
    lines = [
        f"{'module':<28} {'killed':>7} {'survived':>9} {'timeout':>8} {'unrun':>6} {'score':>7}"
    ]
    total: collections.Counter[str] = collections.Counter()
    for module in sorted(per):
        counts = per[module]
        total.update(counts)
        lines.append(_row(module, counts))
    lines.append(_row("all", total))
    return "\n".join(lines)


def _row(label: str, counts: collections.Counter[str]) -> str:
    killed = sum(counts[s] for s in KILLED)
    run = sum(counts[s] for s in RUN)
    unrun = sum(counts.values()) - run
    score = f"{100 * killed / run:.1f}%" if run else "-"
    return (
        f"{label:<28} {killed:>7} {counts['survived']:>9} {counts['timeout']:>8} {unrun:>6}"
        f" {score:>7}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--survivors", action="store_true", help="also list the surviving mutants")
    args = parser.parse_args()
    mutmut = Path(sys.executable).parent / "mutmut"
    listing = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    print(report(verdicts(listing)))
    if args.survivors:
        for line in listing.splitlines():
            if line.strip().endswith(": survived"):
                print(line.strip())


if __name__ == "__main__":
    main()
