"""Study configs: the YAML a study is written in, read with a safe loader and validated with pydantic.

A study says what question it answers, which units it compares, when each was exposed, which feature of the
feature catalogue is the outcome (over a window after exposure) and which are the covariates (over windows
before it), and how to fit. Nothing in a config is executed: YAML is read with ``yaml.safe_load`` (no tags, no
objects), every identifier is checked against :data:`IDENTIFIER` and later against the table's schema, and
filters are a small declarative form turned into Ibis expressions (never SQL text).

Errors are :class:`~bayescausal.errors.SpecError` naming the path of the bad field, e.g.
``covariates[1].window: ends (-3d) before it starts (-1d)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import SpecError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
METHODS = ("auto", "cem", "aipw", "causal_impact", "panel_fe", "event_study", "iv", "mmm")


def check_identifier(value: str, what: str = "identifier") -> str:
    """A table or column name: letters, digits and underscores, not starting with a digit (at most 63)."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a valid {what}: use letters, digits and underscores, starting with a "
                         "letter or underscore (at most 63 characters)")
    return value


def parse_duration(value) -> int:
    """``"7d"``, ``"12h"``, ``"2w"``, ``"90m"``, ``"30s"`` or a number of days, to whole seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return int(round(float(value) * 86400))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(round(float(m.group(1)) * _UNIT_SECONDS[m.group(2)]))
    raise ValueError(f"{value!r} is not a duration: write e.g. '7d', '12h', '2w' or a number of days")


def format_duration(seconds: int) -> str:
    """Inverse of :func:`parse_duration` for display: ``-604800`` → ``"-7d"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds != 0 and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """A time window relative to each unit's exposure time: events with ``exposure + start <= t < exposure + end``.

    ``start``/``end`` are durations (``"-7d"``, ``"28d"``); covariate windows must end at or before 0, outcome
    windows must start at or after 0.
    """

    start: int
    end: int

    @field_validator("start", "end", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError(f"ends ({format_duration(self.end)}) before it starts ({format_duration(self.start)}): "
                             "give end > start")
        return self

    @classmethod
    def of_seconds(cls, start: int, end: int) -> Window:
        """A window from offsets in seconds (plain numbers in YAML are days)."""
        return cls(start=f"{int(start)}s", end=f"{int(end)}s")

    def describe(self) -> str:
        return f"[exposure{_signed(self.start)}, exposure{_signed(self.end)})"


def _signed(seconds: int) -> str:
    if seconds == 0:
        return ""
    return (" + " if seconds > 0 else " - ") + format_duration(abs(seconds))


class Source(_Model):
    """Where a table's rows are: a Parquet or CSV file (or glob), or a table already in the engine's database."""

    path: str | None = None
    format: Literal["parquet", "csv", "auto"] = "auto"
    table: str | None = None

    @field_validator("table")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "table name")

    @model_validator(mode="after")
    def _one(self):
        if (self.path is None) == (self.table is None):
            raise ValueError("give exactly one of 'path' (a Parquet or CSV file) or 'table' (a table in the database)")
        return self

    @property
    def file_format(self) -> str:
        if self.format != "auto":
            return self.format
        return "csv" if str(self.path).lower().endswith((".csv", ".csv.gz")) else "parquet"


class DataConfig(_Model):
    """The engine and the tables. ``engine``: ``duckdb`` (embedded; ``database`` a file or in memory when
    omitted) or ``spark`` (a local session, or the one passed to :func:`~bayescausal.study.run_study`)."""

    engine: Literal["duckdb", "spark"] = "duckdb"
    database: str | None = None
    memory_limit: str | None = None
    threads: int | None = Field(default=None, ge=1)
    sources: dict[str, Source]

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, v):
        if not isinstance(v, dict) or not v:
            raise ValueError("give a mapping of table names to sources, e.g. {events: {path: events.parquet}}")
        out = {}
        for name, src in v.items():
            check_identifier(name, "table name")
            out[name] = {"path": src} if isinstance(src, str) else src
        return out


class Treatment(_Model):
    """Who was exposed and when: a table with a unit and an exposure-time column, or one ``date`` for an aggregate
    intervention (everyone from that date on)."""

    table: str | None = None
    unit: str | None = None
    time: str | None = None
    date: datetime | None = None

    @field_validator("table", "unit", "time")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "name")

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v):
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day)
        return v

    @model_validator(mode="after")
    def _one(self):
        if self.date is None and (self.table is None or self.time is None):
            raise ValueError("give either 'table' and 'time' (the exposure time of each treated unit) or 'date' "
                             "(one date for an aggregate intervention)")
        if self.date is not None and self.table is not None:
            raise ValueError("give either a treatment table or one date, not both")
        return self


class Filter(_Model):
    """``{column, op, value}``: ``op`` one of ``==, !=, <, <=, >, >=, in, not_in, is_null, not_null``."""

    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null"] = "=="
    value: Any = None

    @field_validator("column")
    @classmethod
    def _ident(cls, v):
        return check_identifier(v, "column name")

    @model_validator(mode="after")
    def _value(self):
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op {self.op!r} needs a non-empty list as value")
        elif self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
        elif self.value is None or isinstance(self.value, (dict, list)):
            raise ValueError(f"op {self.op!r} needs one number, string or date as value")
        return self


class Population(_Model):
    """The table listing every unit that could be in the study (one row per unit), with an optional filter."""

    table: str
    unit: str | None = None
    filter: tuple[Filter, ...] = ()

    @field_validator("table", "unit")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "name")


class Control(_Model):
    """The control cohort: population units without a treatment row (optionally filtered), and the rule that
    gives each a pseudo-exposure time.

    ``pseudo_exposure``:
    - ``treated_times`` (default): controls sorted by unit id take the treated units' exposure times, sorted, in
      turn (control ``i`` gets the ``i mod n_treated``-th earliest), so both groups share one calendar
      distribution of exposure times; deterministic and the same on every engine.
    - ``median``: every control gets the median treated exposure time (lower median).
    - ``date``: every control gets ``date``.
    With an aggregate intervention (``treatment.date``) the controls, when given, share that date.
    """

    filter: tuple[Filter, ...] = ()
    pseudo_exposure: Literal["treated_times", "median", "date"] = "treated_times"
    date: datetime | None = None

    @model_validator(mode="after")
    def _date(self):
        if self.pseudo_exposure == "date" and self.date is None:
            raise ValueError("pseudo_exposure 'date' needs a 'date'")
        return self


class FeatureUse(_Model):
    """A catalogue feature used in a study, over its catalogue window or an explicit ``window``."""

    feature: str
    window: Window | None = None
    name: str | None = None

    @field_validator("feature", "name")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "feature name")

    @property
    def column(self) -> str:
        return self.name or self.feature


class SamplerConfig(_Model):
    draws: int = Field(default=1000, ge=10)
    warmup: int | None = Field(default=None, ge=10)
    chains: int = Field(default=4, ge=1, le=16)


class Panel(_Model):
    """A panel design: ``period`` buckets from ``start`` to ``end`` (outcome = the feature per unit and period)."""

    period: int = 7 * 86400
    start: datetime
    end: datetime

    @field_validator("period", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError("end is before start")
        if self.period <= 0:
            raise ValueError("period must be positive")
        return self


class Weeks(_Model):
    """The weeks of a marketing-mix study: ``start`` (the first week's first day) to ``end`` (exclusive)."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError("end is before start")
        return self


class StudyConfig(_Model):
    """One study. See ``bayescausal/datasets/data/study/study.yaml`` for a complete example."""

    name: str
    question: str
    unit: str
    data: DataConfig
    catalogue: str | dict
    population: Population
    treatment: Treatment | None = None
    control: Control = Control()
    outcome: FeatureUse
    covariates: tuple[FeatureUse, ...] = ()
    instrument: str | None = None
    spend: tuple[str, ...] = ()
    weeks: Weeks | None = None
    panel: Panel | None = None
    method: Literal[METHODS] = "auto"  # type: ignore[valid-type]
    sampler: SamplerConfig = SamplerConfig()
    seed: int = 0
    checks: Literal["full", "fast", "none"] = "full"
    aggregate: Literal["auto", "units", "strata"] = "auto"
    note: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not re.match(r"^[A-Za-z0-9_.\-]{1,80}$", v):
            raise ValueError(f"{v!r}: use letters, digits, '_', '-', '.' (at most 80)")
        return v

    @field_validator("unit", "instrument")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "column name")

    @field_validator("spend")
    @classmethod
    def _spend(cls, v):
        return tuple(check_identifier(s, "feature name") for s in v)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, v):
        return {"feature": v} if isinstance(v, str) else v

    @field_validator("covariates", mode="before")
    @classmethod
    def _covariates(cls, v):
        if v is None:
            return ()
        if not isinstance(v, (list, tuple)):
            raise ValueError("give a list of features")
        return [{"feature": c} if isinstance(c, str) else c for c in v]

    # -- windows against each other (the catalogue's defaults are applied in resolve_windows) --------------------
    @model_validator(mode="after")
    def _windows(self):
        if self.spend:
            if self.weeks is None:
                raise ValueError("weeks: a marketing-spend study (spend: ...) needs weeks: {start: ..., end: ...}")
        elif self.treatment is None:
            raise ValueError("treatment: required field is missing (a treatment table or one date)")
        if self.outcome.window is not None and self.outcome.window.start < 0:
            raise ValueError("outcome.window starts before exposure: the outcome is measured from exposure on "
                             "(start >= 0)")
        if self.aggregate == "strata":
            design = ("a marketing-spend" if self.spend else "an aggregate-series" if self.treatment.date is not None
                      else "a panel" if self.panel is not None else None)
            if design:
                raise ValueError(f"aggregate: 'strata' serves coarsened exact matching on a cross-section of units, "
                                 f"not {design} design; remove it (or use 'auto')")
            if self.instrument or self.method not in ("auto", "cem"):
                raise ValueError(f"aggregate: 'strata' returns CEM's stratum statistics, which only method 'cem' fits "
                                 f"(method is {self.method!r}{', with an instrument' if self.instrument else ''}); "
                                 "set method: cem, or aggregate: units")
        names = [self.outcome.column] + [c.column for c in self.covariates]
        if len(set(names)) != len(names):
            raise ValueError(f"covariates: feature columns must be distinct: {names} (give 'name' to tell two uses "
                             "apart)")
        return self

    # -- identity --------------------------------------------------------------------------------------------
    def canonical(self) -> dict:
        return json.loads(self.model_dump_json())

    def config_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _error_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def format_validation_error(err: ValidationError, where: str = "study") -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
        path = _error_path(loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{path}: {msg}" if path else msg)  # whole-config checks name their fields themselves
    return f"invalid {where} config:\n  " + "\n  ".join(lines)


def safe_load_yaml(path_or_text, what: str = "study") -> dict:
    """YAML with ``yaml.safe_load`` (plain data only: no tags, no Python objects); the top level must be a mapping."""
    import yaml

    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and Path(path_or_text).suffix in (".yaml", ".yml")):
        p = Path(path_or_text)
        if not p.is_file():
            raise SpecError(f"{what} config {str(p)!r} not found.")
        text = p.read_text(encoding="utf-8")
    else:
        text = str(path_or_text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} config is not valid YAML (or uses tags, which are not allowed): {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{what} config must be a mapping of fields (name: ..., question: ...), "
                        f"not {type(data).__name__}.")
    return data


def load_study(path_or_dict, base_dir: str | Path | None = None) -> StudyConfig:
    """Read and validate a study config (a YAML path, YAML text or a dict). Relative paths in ``data.sources`` and
    ``catalogue`` are resolved against the config's folder (or ``base_dir``)."""
    if isinstance(path_or_dict, dict):
        raw = dict(path_or_dict)
        base = Path(base_dir) if base_dir else Path.cwd()
    else:
        raw = safe_load_yaml(path_or_dict)
        is_file = isinstance(path_or_dict, Path) or "\n" not in str(path_or_dict)
        base = Path(base_dir) if base_dir else (Path(path_or_dict).resolve().parent if is_file else Path.cwd())
    raw = _resolve_paths(raw, base)
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise SpecError(format_validation_error(err)) from None


def _resolve_paths(raw: dict, base: Path) -> dict:
    raw = dict(raw)
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("sources"), dict):
        sources = {}
        for name, src in data["sources"].items():
            if isinstance(src, str):
                src = {"path": src}
            if isinstance(src, dict) and isinstance(src.get("path"), str) and not Path(src["path"]).is_absolute():
                src = {**src, "path": str((base / src["path"]).resolve())}
            sources[name] = src
        raw["data"] = {**data, "sources": sources}
        db = data.get("database")
        if isinstance(db, str) and db != ":memory:" and not Path(db).is_absolute():
            raw["data"]["database"] = str((base / db).resolve())
    cat = raw.get("catalogue")
    if isinstance(cat, str) and not Path(cat).is_absolute():
        raw["catalogue"] = str((base / cat).resolve())
    return raw


def design_kind(cfg: StudyConfig) -> str:
    """The study's design, read from which fields the config sets: ``"marketing"`` (spend channels), ``"series"``
    (one intervention date for an aggregate), ``"panel"`` (unit-by-period cells) or ``"cross_section"``; the
    pipeline builds that table and the recommender reasons from it."""
    if cfg.spend:
        return "marketing"
    if cfg.treatment.date is not None:
        return "series"
    if cfg.panel is not None:
        return "panel"
    return "cross_section"
