"""Grades and residual value from each record's `[grading]` rules (docs/architecture.md).

The grades are tried best first; the first whose limits hold (SoH at least ``min_soh``,
resistance growth at most ``max_resistance_growth``) is the grade, otherwise "recycle".
Residual value = SoH x nominal capacity (Ah) x nominal voltage (V) / 1000 x price per kWh.
Loops run over rule sets and grades (a handful), never over records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from bench.estimate.errors import EstimateInputError

RECYCLE = "recycle"
RETEST = "retest"
UNGRADED = "ungraded"  # the record carries no grading rules (e.g. imported without a profile)


@dataclass(frozen=True)
class Grade:
    name: str
    min_soh: float
    max_resistance_growth: float
    price_per_kwh: float


@dataclass(frozen=True)
class GradingRules:
    currency: str
    recycle_price_per_kwh: float
    grades: tuple[Grade, ...]


def parse_rules(table: Mapping[str, Any], where: str) -> GradingRules:
    """A `[grading]` table (or a whole profile holding one) -> GradingRules; errors name the rule set."""
    grading = table.get("grading", table) if isinstance(table, Mapping) else None
    if not isinstance(grading, Mapping) or "grades" not in grading:
        raise EstimateInputError(f"grading rules {where!r}: no [[grading.grades]] list; add the profile's [grading] table")
    grades = []
    for k, g in enumerate(grading["grades"]):
        try:
            grades.append(
                Grade(
                    str(g["name"]),
                    float(g.get("min_soh", 0.0)),
                    float(g.get("max_resistance_growth", np.inf)),
                    float(g["price_per_kwh"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EstimateInputError(
                f"grading rules {where!r}: grade #{k + 1} lacks or has a bad {exc}; each grade needs name and price_per_kwh"
            ) from None
    return GradingRules(str(grading.get("currency", "")), float(grading.get("recycle_price_per_kwh", 0.0)), tuple(grades))


@dataclass(frozen=True)
class Grading:
    grade: np.ndarray  # (n,) str
    price_per_kwh: np.ndarray  # (n,)
    currency: np.ndarray  # (n,) str
    residual_value: np.ndarray  # (n,) NaN where not valued (retest, no rules)
    no_rules: np.ndarray  # (n,) bool: the record carries no grading rules


def grade_records(
    soh: np.ndarray,
    resistance_growth: np.ndarray,
    rules_key: np.ndarray,
    rules_by_key: Mapping[str, Any],
    nominal_capacity_ah: np.ndarray,
    nominal_voltage_v: np.ndarray,
    retest: np.ndarray,
) -> Grading:
    """Grade every record by its own rule set; an unknown resistance growth does not limit the grade."""
    n = len(soh)
    grade = np.full(n, RECYCLE, dtype=object)
    price = np.full(n, np.nan)
    currency = np.full(n, "", dtype=object)
    no_rules = np.zeros(n, dtype=bool)
    for key in np.unique(rules_key.astype(str)) if n else []:
        rows = rules_key.astype(str) == key
        if key not in rules_by_key:
            no_rules |= rows
            continue
        rules = parse_rules(rules_by_key[key], key)
        currency[rows] = rules.currency
        open_rows = rows.copy()
        for g in rules.grades:
            holds = open_rows & (soh >= g.min_soh) & ~(resistance_growth > g.max_resistance_growth)
            grade[holds] = g.name
            price[holds] = g.price_per_kwh
            open_rows &= ~holds
        price[open_rows] = rules.recycle_price_per_kwh
    grade[no_rules] = UNGRADED
    unknown = ~np.isfinite(soh)
    grade[retest | unknown] = RETEST
    value = soh * nominal_capacity_ah * nominal_voltage_v / 1000.0 * price
    value = np.where(retest | unknown | no_rules, np.nan, value)
    return Grading(grade, price, currency, value, no_rules)
