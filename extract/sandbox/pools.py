"""Seeded, precomputed pieces of records: noise tables and JSON fragments.

Serving a million KPIs leaves about a microsecond per record, so records are spliced from
fragments picked by cheap table-lookup noise instead of being built and serialised.
"""

import random
from array import array
from typing import Any

import orjson

from extract.sandbox import catalog

POOL_SIZE = 512  # fragments per pool; a power of two so `h & POOL_MASK` picks one
POOL_MASK = POOL_SIZE - 1
_LOW_BITS = 16
_HIGH_SIZE = 1024  # indices up to 2**26 (67M) keep distinct noise

MONTH_ENDS = (
    "2026-01-31",
    "2026-02-28",
    "2026-03-31",
    "2026-04-30",
    "2026-05-31",
    "2026-06-30",
    "2026-07-31",
    "2026-08-31",
    "2026-09-30",
    "2026-10-31",
    "2026-11-30",
    "2026-12-31",
    "2027-01-31",
    "2027-02-28",
    "2027-03-31",
    "2027-04-30",
    "2027-05-31",
    "2027-06-30",
    "2027-07-31",
    "2027-08-31",
    "2027-09-30",
    "2027-10-31",
    "2027-11-30",
    "2027-12-31",
)
_QUARTERS = (
    ("2026-Q1", "2026-01-01", "2026-03-31"),
    ("2026-Q2", "2026-04-01", "2026-06-30"),
    ("2026-Q3", "2026-07-01", "2026-09-30"),
    ("2026-Q4", "2026-10-01", "2026-12-31"),
)


class Noise:
    """32 pseudo-random bits per index from two lookup tables (one XOR, no big-int maths)."""

    def __init__(self, rng: random.Random) -> None:
        self.low = array("I", rng.randbytes(4 << _LOW_BITS)).tolist()
        self.high = array("I", rng.randbytes(4 * _HIGH_SIZE)).tolist()

    def __call__(self, n: int) -> int:
        return self.low[n & 0xFFFF] ^ self.high[(n >> _LOW_BITS) % _HIGH_SIZE]


def json_fields(fields: dict[str, Any]) -> str:
    """`"a":1,"b":2`: an object's members without braces, to splice into a template."""
    return orjson.dumps(fields).decode()[1:-1]


def _number(value: float | None, whole: bool) -> float | int | None:
    if value is None:
        return None
    return int(round(value)) if whole else round(value, 2)


def kpi_body(rng: random.Random, category: int, whole: bool) -> str:
    """Members `name` … `actuals` of one KPI of a category; actuals unsorted, some null."""
    name, unit, direction, typical = rng.choice(catalog.KPI_ARCHETYPES[category])
    baseline = typical * rng.uniform(0.6, 1.6)
    improvement = abs(baseline) * rng.uniform(0.08, 0.35) + (2 if unit == "score" else 0)
    target = baseline - improvement if direction == "decrease" else baseline + improvement
    months = rng.choice((0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9))
    first = rng.randrange(0, 10 - months) if months < 9 else 0
    actuals: list[dict[str, Any]] = []
    for step, month in enumerate(MONTH_ENDS[first : first + months]):
        progress = (step + 1) / (months + 2) * rng.uniform(0.5, 1.3)
        actuals.append(
            {
                "measured_on": month,
                "value": _number(baseline + (target - baseline) * progress, whole),
            }
        )
    if actuals and rng.random() < 0.05:
        rng.choice(actuals)["value"] = None
    rng.shuffle(actuals)  # the API does not sort actuals
    return json_fields(
        {
            "name": name,
            "unit": unit,
            "direction": direction,
            "baseline": None if rng.random() < 0.02 else _number(baseline, whole),
            "target": None if rng.random() < 0.07 else _number(target, whole),
            "actuals": actuals,
        }
    )


def value_driver_money(rng: random.Random, whole: bool) -> tuple[str, str]:
    """(`total_benefit` JSON, `realization_calendar` JSON) of one value driver."""
    total = rng.uniform(40_000, 3_500_000)
    if rng.random() < 0.01:
        total = -total / 10  # a value driver can cost more than it returns
    total = float(int(total)) if whole else int(total) + rng.choice((0.5, 0.25, 0.75, 0.5))
    quarters = 0 if rng.random() < 0.12 else rng.randint(1, 4)
    start = rng.randrange(0, 5 - quarters) if quarters else 0
    calendar = []
    for period, start_date, end_date in _QUARTERS[start : start + quarters]:
        expected = total / quarters
        realized = expected * rng.uniform(0.55, 1.1) if period in ("2026-Q1", "2026-Q2") else None
        if period == "2026-Q3" and rng.random() < 0.5:
            realized = expected * rng.uniform(0.4, 0.9)
        calendar.append(
            {
                "period": period,
                "start_date": start_date,
                "end_date": end_date,
                "expected_benefit": _number(expected, whole),
                "realized_benefit": _number(realized, whole),
            }
        )
    return orjson.dumps(int(total) if whole else total).decode(), orjson.dumps(calendar).decode()


class Pools:
    """Every fragment pool of one seed, built once per `SandboxData` (about 50 ms)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"goalsync-sandbox-pools:{seed}")
        categories = range(len(catalog.VALUE_DRIVER_CATALOG))
        # pools[whole][category][i]: whole-number fragments serve the first records
        self.kpi_bodies = {
            whole: [[kpi_body(rng, c, whole) for _ in range(POOL_SIZE)] for c in categories]
            for whole in (True, False)
        }
        self.money = {
            whole: [value_driver_money(rng, whole) for _ in range(POOL_SIZE)]
            for whole in (True, False)
        }
        self.driver_names = [
            [
                json_fields({"name": name, "solution": solution, "category": category})
                for name, solution in drivers
            ]
            for category, drivers in catalog.VALUE_DRIVER_CATALOG
        ]
        self.noise = {name: Noise(rng) for name in ("documents", "value_drivers", "kpis")}
