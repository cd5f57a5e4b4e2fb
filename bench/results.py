"""The results file of one ``make bench`` run, and the final table.

``bench/run.sh`` and the Python checks append one tab-separated line per
figure or check to ``$BENCH_RESULTS``:

    figure  NAME  VALUE  UNIT  BASELINE  TARGET
    check   NAME  ok|FAIL  DETAIL

BASELINE is the name of an earlier figure (or ``-``); TARGET is ``>=N%``
(the ratio to the baseline), ``<=X`` (the value, in its unit) or ``-``.
``python bench/results.py FILE`` prints the table and exits 1 if any check
failed; missed targets are listed but do not fail it.
"""

import math
import os
import sys
from dataclasses import dataclass


def record(*fields: object) -> None:
    """Append one line to $BENCH_RESULTS (a no-op when it is not set)."""
    path = os.environ.get("BENCH_RESULTS")
    if not path:
        return
    line = "\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields)
    with open(path, "a") as f:
        f.write(line + "\n")


def record_check(name: str, failures: list[str], detail: str = "") -> bool:
    """Record a verification: ok, or FAIL with the failures. True when ok."""
    if failures:
        record("check", name, "FAIL", "; ".join(failures))
    else:
        record("check", name, "ok", detail)
    return not failures


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str
    target: str


def _amount(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.0f} {unit}"


def _percent(ratio: float | None) -> str:
    """Rounded down, so a ratio shown as the target's figure has met it."""
    if ratio is None:
        return "-"
    if ratio < 0.1:
        return f"{math.floor(ratio * 1000) / 10:.1f}%"
    return f"{math.floor(ratio * 100)}%"


def _read(path: str) -> tuple[dict[str, Figure], list[tuple[str, str, str]]]:
    figures: dict[str, Figure] = {}
    checks: list[tuple[str, str, str]] = []
    with open(path) as f:
        for line in f:
            kind, *fields = line.rstrip("\n").split("\t")
            if kind == "figure":
                name, value, unit, baseline, target = fields
                figures[name] = Figure(name, float(value), unit, baseline, target)
            elif kind == "check":
                checks.append(
                    (fields[0], fields[1], fields[2] if len(fields) > 2 else "")
                )
    return figures, checks


def _judge(fig: Figure, ratio: float | None) -> tuple[str, str]:
    """The target as printed, and "met", "MISSED" or "" (no target)."""
    if fig.target.startswith(">=") and fig.target.endswith("%"):
        met = ratio is not None and ratio * 100 >= float(fig.target[2:-1])
        return fig.target, "met" if met else "MISSED"
    if fig.target.startswith("<="):
        limit = float(fig.target[2:])
        return f"<={limit:g} {fig.unit}", "met" if fig.value <= limit else "MISSED"
    return "", ""


def main(path: str) -> int:
    figures, checks = _read(path)
    missed = []
    print()
    print(f"{'figure':<22} {'value':<17} {'baseline':<34} {'ratio':<7} target")
    for fig in figures.values():
        base = figures.get(fig.baseline)
        baseline = f"{base.name} {_amount(base.value, base.unit)}" if base else "-"
        ratio = fig.value / base.value if base and base.value else None
        target, verdict = _judge(fig, ratio)
        if verdict == "MISSED":
            missed.append(fig.name)
        print(
            f"{fig.name:<22} {_amount(fig.value, fig.unit):<17} {baseline:<34}"
            f" {_percent(ratio):<7} {target:<9}"
            f" {verdict}".rstrip()
        )

    failed = [c for c in checks if c[1] != "ok"]
    print()
    print(f"verifications: {len(checks) - len(failed)} ok, {len(failed)} failed")
    for name, _, detail in failed:
        print(f"  FAIL {name}: {detail}")
    if missed:
        print(f"targets MISSED ({len(missed)}): {', '.join(missed)}")
    else:
        print("targets: all met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
