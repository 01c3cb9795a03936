"""The fault matrix's tally: scenarios run, random sequences, kills per stage, rows lost and
duplicated. Printed at the end of the session; written as JSON to TW_FAULT_REPORT when set."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Matrix:
    scenarios: dict[str, str] = field(default_factory=dict)
    sequences: int = 0
    runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    checks: int = 0

    def scenario(self, name: str, result: str) -> None:
        self.scenarios[name] = result
        self._write()

    def count_check(self, lost: int, duplicated: int) -> None:
        self.checks += 1
        self.lost += lost
        self.duplicated += duplicated
        self._write()

    def kill(self, stage_group: str) -> None:
        self.kills[stage_group] += 1
        self._write()

    def lines(self) -> list[str]:
        kills = ", ".join(f"{stage} {n}" for stage, n in sorted(self.kills.items())) or "none"
        lines = [f"  {name}: {result}" for name, result in sorted(self.scenarios.items())]
        lines += [
            f"scenarios {len(self.scenarios)}, random sequences {self.sequences}, "
            f"pipeline runs {self.runs}, comparisons {self.checks}",
            f"kills {sum(self.kills.values())} ({kills})",
            f"rows lost {self.lost}, rows duplicated {self.duplicated}",
        ]
        return lines

    def _write(self) -> None:
        path = os.environ.get("TW_FAULT_REPORT")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({
                "scenarios": self.scenarios, "sequences": self.sequences, "runs": self.runs,
                "kills": dict(self.kills), "lost": self.lost, "duplicated": self.duplicated,
                "checks": self.checks,
            }, handle, indent=2)


MATRIX = Matrix()
