"""Test profiles and cell types: TOML data files, validated once at load time.

Why validate everything here: a profile drives real current through a real cell. A
misspelt key that silently falls back to a default, or a current above what the cell
tolerates, must be refused before any instrument is touched, with one line that names
the file, the key, the value and what is allowed.

A profile names its cell type (`cell_type = "nmc-18650-2.5ah"`, a file in
`profiles/cells/`, or a path). The effective safety limits are the cell type's own,
optionally tightened (never loosened) by the profile's `[safety]` table.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

MIN_EIS_FREQUENCY_HZ = 0.1
MAX_EIS_FREQUENCY_HZ = 1050.0
EIS_RANGES_OHM = (0.003, 0.03, 0.3, 3.0)
EIS_SPEEDS = ("FAST", "MED", "SLOW")
STEP_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class ProfileError(Exception):
    """A profile or cell type file the user gave cannot be used; the message is one line."""


# ---------------------------------------------------------------- data classes


@dataclass(frozen=True)
class CellType:
    """What a cell of one type tolerates, and its beginning-of-life figures.

    `ocv_soc`/`ocv_voltage_v` are the cell type's open-circuit voltage curve (the optional
    `[ocv]` table), empty when the file has none: the estimator reads a record's state of
    charge off it, because impedance depends on SOC and the calibrated model must know it.
    """

    name: str
    chemistry: str
    nominal_capacity_ah: float
    nominal_voltage_v: float
    min_voltage_v: float
    max_voltage_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    min_temperature_c: float
    max_temperature_c: float
    reference_r0_ohm: float
    ocv_soc: tuple[float, ...] = ()  # strictly increasing, 0..1
    ocv_voltage_v: tuple[float, ...] = ()  # non-decreasing, same length


@dataclass(frozen=True)
class SafetyLimits:
    """The limits every reading is checked against while a profile runs."""

    min_voltage_v: float
    max_voltage_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    min_temperature_c: float
    max_temperature_c: float


@dataclass(frozen=True)
class Step:
    """Common part of every step: `kind` selects the runner, `name` keys the step in the record."""

    kind: str
    name: str


@dataclass(frozen=True)
class OcvStep(Step):
    settle_s: float = 0.0


@dataclass(frozen=True)
class EisStep(Step):
    frequencies_hz: tuple[float, ...] = ()
    range_ohm: float = 0.3
    speed: str = "MED"
    averaging: int = 1


@dataclass(frozen=True)
class RestStep(Step):
    duration_s: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class PulseStep(Step):
    current_a: float = 0.0
    direction: str = "discharge"
    duration_s: float = 0.0
    rest_before_s: float = 0.0
    rest_after_s: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class CcChargeStep(Step):
    current_a: float = 0.0
    cutoff_voltage_v: float = 0.0
    max_duration_s: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class CccvChargeStep(Step):
    current_a: float = 0.0
    voltage_v: float = 0.0
    end_current_a: float = 0.0
    max_duration_s: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class CcDischargeStep(Step):
    current_a: float = 0.0
    cutoff_voltage_v: float = 0.0
    max_duration_s: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class SocAdjustStep(Step):
    current_a: float = 0.0
    fraction_of_capacity: float = 0.0
    sample_interval_s: float = 1.0


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    path: Path
    text: str
    sha256: str
    cell_type: CellType
    steps: tuple[Step, ...]
    safety: SafetyLimits
    grading: dict = field(default_factory=dict)


# ---------------------------------------------------------------- field specs

REQUIRED = object()


@dataclass(frozen=True)
class Spec:
    """How one TOML key is checked: its type, default, allowed range or choices."""

    type: str  # "float" | "int" | "str" | "floats"
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # strictly greater than `low`
    choices: tuple | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g} and <= {self.high:g}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return {"float": "a number", "int": "a whole number", "str": "a string", "floats": "a list of numbers",
                "grades": "[[grading.grades]] tables"}[self.type]


def _duration(default: Any = REQUIRED) -> Spec:
    return Spec("float", default, low=0.0, high=1e7)


def _interval() -> Spec:
    return Spec("float", 1.0, low=0.0, high=3600.0, low_open=True)


def _current() -> Spec:
    return Spec("float", REQUIRED, low=0.0, high=1000.0, low_open=True)


def _voltage() -> Spec:
    return Spec("float", REQUIRED, low=0.0, high=100.0, low_open=True)


STEP_SPECS: dict[str, tuple[type[Step], dict[str, Spec]]] = {
    "ocv": (OcvStep, {"settle_s": _duration(0.0)}),
    "eis": (
        EisStep,
        {
            "frequencies_hz": Spec("floats", None),
            "start_hz": Spec("float", None, low=MIN_EIS_FREQUENCY_HZ, high=MAX_EIS_FREQUENCY_HZ),
            "stop_hz": Spec("float", None, low=MIN_EIS_FREQUENCY_HZ, high=MAX_EIS_FREQUENCY_HZ),
            "points_per_decade": Spec("int", None, low=1, high=100),
            "range_ohm": Spec("float", 0.3, choices=EIS_RANGES_OHM),
            "speed": Spec("str", "MED", choices=EIS_SPEEDS),
            "averaging": Spec("int", 1, low=1, high=256),
        },
    ),
    "rest": (RestStep, {"duration_s": _duration(), "sample_interval_s": _interval()}),
    "pulse": (
        PulseStep,
        {
            "current_a": _current(),
            "direction": Spec("str", "discharge", choices=("charge", "discharge")),
            "duration_s": Spec("float", REQUIRED, low=0.0, high=1e5, low_open=True),
            "rest_before_s": _duration(0.0),
            "rest_after_s": _duration(0.0),
            "sample_interval_s": _interval(),
        },
    ),
    "cc_charge": (
        CcChargeStep,
        {"current_a": _current(), "cutoff_voltage_v": _voltage(), "max_duration_s": _duration(),
         "sample_interval_s": _interval()},
    ),
    "cccv_charge": (
        CccvChargeStep,
        {"current_a": _current(), "voltage_v": _voltage(), "end_current_a": _current(), "max_duration_s": _duration(),
         "sample_interval_s": _interval()},
    ),
    "cc_discharge": (
        CcDischargeStep,
        {"current_a": _current(), "cutoff_voltage_v": _voltage(), "max_duration_s": _duration(),
         "sample_interval_s": _interval()},
    ),
    "soc_adjust": (
        SocAdjustStep,
        {"current_a": _current(), "fraction_of_capacity": Spec("float", REQUIRED, low=0.0, high=1.0, low_open=True),
         "sample_interval_s": _interval()},
    ),
}

CELL_TYPE_SPECS: dict[str, Spec] = {
    "name": Spec("str", REQUIRED),
    "description": Spec("str", ""),
    "chemistry": Spec("str", REQUIRED),
    "nominal_capacity_ah": Spec("float", REQUIRED, low=0.0, high=10000.0, low_open=True),
    "nominal_voltage_v": _voltage(),
    "min_voltage_v": _voltage(),
    "max_voltage_v": _voltage(),
    "max_charge_current_a": _current(),
    "max_discharge_current_a": _current(),
    "min_temperature_c": Spec("float", REQUIRED, low=-60.0, high=100.0),
    "max_temperature_c": Spec("float", REQUIRED, low=-60.0, high=100.0),
    "reference_r0_ohm": Spec("float", REQUIRED, low=0.0, high=100.0, low_open=True),
}
OCV_TABLE = "ocv"  # the optional [ocv] table of a cell type file
OCV_SPECS: dict[str, Spec] = {
    "soc": Spec("floats", REQUIRED),
    "voltage_v": Spec("floats", REQUIRED),
}
MIN_OCV_POINTS = 5
OCV_SOC_COVERAGE = (0.05, 0.95)  # an OCV table must reach at least this far towards empty and full

SAFETY_SPECS: dict[str, Spec] = {
    "min_voltage_v": Spec("float", None, low=0.0, high=100.0),
    "max_voltage_v": Spec("float", None, low=0.0, high=100.0),
    "max_charge_current_a": Spec("float", None, low=0.0, high=1000.0, low_open=True),
    "max_discharge_current_a": Spec("float", None, low=0.0, high=1000.0, low_open=True),
    "min_temperature_c": Spec("float", None, low=-60.0, high=100.0),
    "max_temperature_c": Spec("float", None, low=-60.0, high=100.0),
}

PROFILE_KEYS = ("name", "description", "cell_type", "safety", "steps", "grading")
GRADING_SPECS: dict[str, Spec] = {
    "currency": Spec("str", "EUR"),
    "recycle_price_per_kwh": Spec("float", 0.0, low=0.0, high=1e6),
    "grades": Spec("grades", REQUIRED),
}
GRADE_SPECS: dict[str, Spec] = {
    "name": Spec("str", REQUIRED),
    "min_soh": Spec("float", REQUIRED, low=0.0, high=2.0),
    "max_resistance_growth": Spec("float", math.inf, low=0.0, high=math.inf, low_open=True),
    "price_per_kwh": Spec("float", REQUIRED, low=0.0, high=1e6),
}


def default_grading() -> dict:
    """Grading rules for a profile without a `[grading]` table (a fresh dict each call)."""
    return {
        "currency": "EUR",
        "recycle_price_per_kwh": 2.0,
        "grades": [
            {"name": "A", "min_soh": 0.90, "max_resistance_growth": 1.3, "price_per_kwh": 70.0},
            {"name": "B", "min_soh": 0.80, "max_resistance_growth": 1.6, "price_per_kwh": 45.0},
            {"name": "C", "min_soh": 0.70, "max_resistance_growth": 2.0, "price_per_kwh": 25.0},
        ],
    }


# ---------------------------------------------------------------- checking helpers


def _unknown_key(where: str, key: str, known: list[str] | tuple[str, ...]) -> ProfileError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return ProfileError(f"{where}: unknown key {key!r}{hint}")


def _check_keys(where: str, table: dict, known: list[str] | tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise _unknown_key(where, key, known)


def _value(where: str, key: str, raw: Any, spec: Spec) -> Any:
    """Check one value against its spec; return it converted (ints to floats where numbers are meant)."""
    def bad(what: str) -> ProfileError:
        return ProfileError(f"{where}: {key} = {raw!r} {what}; allowed: {spec.allowed()}")

    if spec.type == "str":
        if not isinstance(raw, str):
            raise bad("is not a string")
        value: Any = raw
    elif spec.type == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise bad("is not a whole number")
        value = raw
    elif spec.type == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isnan(raw):
            raise bad("is not a number")
        value = float(raw)
    elif spec.type == "floats":
        if not isinstance(raw, list) or not raw or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
            raise bad("is not a non-empty list of numbers")
        return tuple(float(v) for v in raw)
    else:  # pragma: no cover - specs are code
        raise AssertionError(spec.type)
    if spec.choices is not None:
        if value not in spec.choices:
            raise bad("is not allowed")
        return value
    if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
        raise bad("is out of range")
    if spec.high is not None and value > spec.high:
        raise bad("is out of range")
    return value


def _table(where: str, raw: dict, specs: dict[str, Spec]) -> dict[str, Any]:
    _check_keys(where, raw, tuple(specs))
    out: dict[str, Any] = {}
    for key, spec in specs.items():
        if key in raw:
            out[key] = raw[key] if spec.type == "grades" else _value(where, key, raw[key], spec)
        elif spec.default is REQUIRED:
            raise ProfileError(f"{where}: missing key {key!r} ({spec.allowed()})")
        else:
            out[key] = spec.default
    return out


def _read_toml(path: Path, what: str) -> tuple[str, dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{what} file {path} cannot be read: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None


# ---------------------------------------------------------------- built-ins


def _builtin_dir() -> Path:
    return Path(str(resources.files("profiles")))


def builtin_profile_names() -> list[str]:
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def builtin_cell_type_names() -> list[str]:
    return sorted(p.stem for p in (_builtin_dir() / "cells").glob("*.toml"))


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith(".toml")


# ---------------------------------------------------------------- cell types


def load_cell_type(name_or_path: str | Path) -> CellType:
    """A built-in cell type name (profiles/cells/<name>.toml) or a path to a cell type file."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
    else:
        path = _builtin_dir() / "cells" / f"{name_or_path}.toml"
        if not path.is_file():
            raise ProfileError(
                f"unknown cell type {str(name_or_path)!r}: built-in cell types are "
                f"{', '.join(builtin_cell_type_names())}, or give a path to a .toml file"
            )
    _text, raw = _read_toml(path, "cell type")
    _check_keys(str(path), raw, (*CELL_TYPE_SPECS, OCV_TABLE))
    raw_ocv = raw.get(OCV_TABLE)
    values = _table(str(path), {k: v for k, v in raw.items() if k != OCV_TABLE}, CELL_TYPE_SPECS)
    values.pop("description")
    if values["min_voltage_v"] >= values["max_voltage_v"]:
        raise ProfileError(f"{path}: min_voltage_v {values['min_voltage_v']:g} must be below max_voltage_v {values['max_voltage_v']:g}")
    if values["min_temperature_c"] >= values["max_temperature_c"]:
        raise ProfileError(f"{path}: min_temperature_c must be below max_temperature_c")
    if raw_ocv is not None:
        values["ocv_soc"], values["ocv_voltage_v"] = _ocv_table(f"{path} [{OCV_TABLE}]", raw_ocv, values)
    return CellType(**values)


def _ocv_table(where: str, raw: Any, cell: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Check a cell type's `[ocv]` table: a usable, monotone OCV(SOC) curve inside the cell's voltage window.

    Why so strict: SOC is read off this curve by inverting it, which needs voltage to
    rise with SOC; a table that misses the ends, or leaves the cell's window, is a typo.
    """
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: must be a table with soc = [...] and voltage_v = [...]")
    values = _table(where, raw, OCV_SPECS)
    soc, voltage_v = values["soc"], values["voltage_v"]
    for key, array in (("soc", soc), ("voltage_v", voltage_v)):
        if not all(math.isfinite(v) for v in array):
            raise ProfileError(f"{where}: {key} holds a value that is not a finite number; give plain numbers")
    if len(soc) != len(voltage_v):
        raise ProfileError(f"{where}: soc has {len(soc)} values and voltage_v {len(voltage_v)}; give one voltage per SOC")
    if len(soc) < MIN_OCV_POINTS:
        raise ProfileError(f"{where}: soc has {len(soc)} values; give at least {MIN_OCV_POINTS} points of the OCV curve")
    if any(not 0.0 <= s <= 1.0 for s in soc):
        raise ProfileError(f"{where}: soc = {_short(soc)} leaves 0..1; give SOC as a fraction (0.5, not 50)")
    if any(b <= a for a, b in zip(soc, soc[1:])):
        raise ProfileError(f"{where}: soc = {_short(soc)} must be strictly increasing")
    low, high = OCV_SOC_COVERAGE
    if soc[0] > low or soc[-1] < high:
        raise ProfileError(
            f"{where}: soc runs {soc[0]:g}..{soc[-1]:g}; the table must cover at least {low:g}..{high:g}"
        )
    if any(b < a for a, b in zip(voltage_v, voltage_v[1:])):
        raise ProfileError(f"{where}: voltage_v = {_short(voltage_v)} must not decrease as soc increases")
    v_min, v_max = cell["min_voltage_v"], cell["max_voltage_v"]
    if voltage_v[0] < v_min or voltage_v[-1] > v_max:
        raise ProfileError(
            f"{where}: voltage_v runs {voltage_v[0]:g}..{voltage_v[-1]:g} V, outside the cell's "
            f"min_voltage_v..max_voltage_v {v_min:g}..{v_max:g} V"
        )
    return soc, voltage_v


def _short(values: tuple[float, ...]) -> str:
    """A list for an error message, cut short so that the message stays one readable line."""
    shown = ", ".join(f"{v:g}" for v in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"


# ---------------------------------------------------------------- profiles


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile name (a file in the `profiles` package) or a path to a profile TOML file."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
    else:
        path = _builtin_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ProfileError(
                f"unknown profile {str(name_or_path)!r}: built-in profiles are {', '.join(builtin_profile_names())}, "
                "or give a path to a .toml file"
            )
    text, raw = _read_toml(path, "profile")
    return parse_profile(text, raw, path)


def parse_profile(text: str, raw: dict, path: Path) -> Profile:
    where = str(path)
    _check_keys(where, raw, PROFILE_KEYS)
    name = _value(where, "name", raw.get("name", path.stem), Spec("str"))
    description = _value(where, "description", raw.get("description", ""), Spec("str"))
    if "cell_type" not in raw:
        raise ProfileError(f"{where}: missing key 'cell_type' (a built-in cell type: {', '.join(builtin_cell_type_names())}, or a path)")
    cell_ref = _value(where, "cell_type", raw["cell_type"], Spec("str"))
    if _looks_like_path(cell_ref) and not Path(cell_ref).is_absolute():
        cell_ref = str(path.parent / cell_ref)
    cell_type = load_cell_type(cell_ref)
    safety = _safety(where, raw.get("safety", {}), cell_type)
    steps = _steps(where, raw.get("steps"), safety)
    grading = validate_grading(where, raw["grading"]) if "grading" in raw else default_grading()
    return Profile(
        name=name,
        description=description,
        path=path,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        cell_type=cell_type,
        steps=steps,
        safety=safety,
        grading=grading,
    )


def _safety(where: str, raw: Any, cell_type: CellType) -> SafetyLimits:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: [safety] must be a table")
    values = _table(f"{where} [safety]", raw, SAFETY_SPECS)
    effective = {}
    for key in SAFETY_SPECS:
        cell_value = getattr(cell_type, key)
        value = values[key]
        if value is None:
            effective[key] = cell_value
            continue
        looser = value < cell_value if key.startswith("min_") else value > cell_value
        if looser:
            raise ProfileError(
                f"{where} [safety]: {key} = {value:g} is looser than the cell type {cell_type.name!r} allows "
                f"({cell_value:g}); [safety] may only tighten the cell type's limits"
            )
        effective[key] = value
    if effective["min_voltage_v"] >= effective["max_voltage_v"]:
        raise ProfileError(f"{where} [safety]: min_voltage_v must be below max_voltage_v")
    return SafetyLimits(**effective)


def _steps(where: str, raw: Any, safety: SafetyLimits) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{where}: a profile needs at least one [[steps]] table")
    steps: list[Step] = []
    used: set[str] = set()
    for index, table in enumerate(raw, start=1):
        step_where = f"{where} step {index}"
        if not isinstance(table, dict):
            raise ProfileError(f"{step_where}: each [[steps]] entry must be a table")
        kind = table.get("kind")
        if kind not in STEP_SPECS:
            close = difflib.get_close_matches(str(kind), list(STEP_SPECS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ProfileError(f"{step_where}: kind = {kind!r} is not a step kind ({', '.join(STEP_SPECS)}){hint}")
        cls, specs = STEP_SPECS[kind]
        step_where = f"{where} step {index} ({kind})"
        name = table.get("name")
        rest = {k: v for k, v in table.items() if k not in ("kind", "name")}
        values = _table(step_where, rest, specs)
        if name is None:
            name, n = kind, 2
            while name in used:
                name, n = f"{kind}_{n}", n + 1
        elif not isinstance(name, str) or not STEP_NAME_PATTERN.match(name):
            raise ProfileError(f"{step_where}: name = {name!r} must be a letter then letters, digits, '_' or '-' (at most 64)")
        elif name in used:
            raise ProfileError(f"{step_where}: name {name!r} is used by an earlier step; step names must be unique")
        used.add(name)
        if kind == "eis":
            values = {"frequencies_hz": _frequencies(step_where, values), **{k: values[k] for k in ("range_ohm", "speed", "averaging")}}
        _check_against_limits(step_where, kind, values, safety)
        steps.append(cls(kind=kind, name=name, **values))
    return tuple(steps)


def _frequencies(where: str, values: dict) -> tuple[float, ...]:
    sweep = [values[k] is not None for k in ("start_hz", "stop_hz", "points_per_decade")]
    if values["frequencies_hz"] is not None:
        if any(sweep):
            raise ProfileError(f"{where}: give either frequencies_hz or start_hz/stop_hz/points_per_decade, not both")
        frequencies = values["frequencies_hz"]
    elif all(sweep):
        start, stop, per_decade = values["start_hz"], values["stop_hz"], values["points_per_decade"]
        decades = abs(math.log10(stop / start))
        count = max(int(round(decades * per_decade)) + 1, 2) if start != stop else 1
        frequencies = tuple(float(f) for f in _logspace(start, stop, count))
    else:
        raise ProfileError(f"{where}: give frequencies_hz = [...] or all of start_hz, stop_hz, points_per_decade")
    for frequency_hz in frequencies:
        if not MIN_EIS_FREQUENCY_HZ <= frequency_hz <= MAX_EIS_FREQUENCY_HZ:
            raise ProfileError(
                f"{where}: frequency {frequency_hz:g} Hz is outside the impedance meter's "
                f"{MIN_EIS_FREQUENCY_HZ:g}..{MAX_EIS_FREQUENCY_HZ:g} Hz"
            )
    return frequencies


def _logspace(start: float, stop: float, count: int) -> list[float]:
    if count == 1:
        return [start]
    log_start, log_stop = math.log10(start), math.log10(stop)
    points = [10 ** (log_start + (log_stop - log_start) * i / (count - 1)) for i in range(count)]
    points[0], points[-1] = start, stop  # exact end points, no rounding drift
    return points


def _check_against_limits(where: str, kind: str, values: dict, safety: SafetyLimits) -> None:
    current_a = values.get("current_a")
    if current_a is not None:
        charging = kind in ("cc_charge", "cccv_charge") or (kind == "pulse" and values["direction"] == "charge")
        limit_key = "max_charge_current_a" if charging else "max_discharge_current_a"
        limit = getattr(safety, limit_key)
        if current_a > limit:
            raise ProfileError(f"{where}: current_a = {current_a:g} A is above the cell's {limit_key} {limit:g} A")
    for key in ("cutoff_voltage_v", "voltage_v"):
        if key in values and not safety.min_voltage_v <= values[key] <= safety.max_voltage_v:
            raise ProfileError(
                f"{where}: {key} = {values[key]:g} V is outside the cell's voltage window "
                f"{safety.min_voltage_v:g}..{safety.max_voltage_v:g} V"
            )
    if kind == "cccv_charge" and values["end_current_a"] >= values["current_a"]:
        raise ProfileError(f"{where}: end_current_a = {values['end_current_a']:g} A must be below current_a = {values['current_a']:g} A")


def validate_grading(where: str, raw: Any) -> dict:
    """Check a `[grading]` table; return a plain dict with defaults filled in."""
    where = f"{where} [grading]"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: must be a table")
    values = _table(where, raw, GRADING_SPECS)
    grades_raw = values["grades"]
    if not isinstance(grades_raw, list) or not grades_raw:
        raise ProfileError(f"{where}: needs at least one [[grading.grades]] table")
    grades = []
    for index, grade in enumerate(grades_raw, start=1):
        if not isinstance(grade, dict):
            raise ProfileError(f"{where} grade {index}: must be a table")
        grades.append(_table(f"{where} grade {index}", grade, GRADE_SPECS))
    for before, after in zip(grades, grades[1:]):
        if after["min_soh"] > before["min_soh"]:
            raise ProfileError(f"{where}: grades must be listed best first ({after['name']!r} has a higher min_soh than {before['name']!r})")
    names = [g["name"] for g in grades]
    if len(set(names)) != len(names):
        raise ProfileError(f"{where}: grade names must be unique")
    values["grades"] = grades
    return values


def cell_type_dict(cell_type: CellType) -> dict[str, Any]:
    return {f.name: getattr(cell_type, f.name) for f in fields(cell_type)}
