"""The feature catalogue: human-readable feature names mapped to one precise query each.

``sessions_7d`` means the same thing in every study that uses it: rows of one table, kept by a declarative
filter, one column aggregated over a window (7 days before exposure when used as a covariate, 7 days from
exposure when used as an outcome). A catalogue is YAML::

    tables:
      events: {unit: user_id, time: ts}        # each event table's unit and time columns
    features:
      sessions_7d:
        table: events
        filter: [{column: event_type, op: "==", value: session}]
        agg: count
        window: 7d
        description: sessions in the 7 days before (or after) exposure
      revenue_28d: {table: events, filter: [{column: event_type, value: purchase}], column: amount,
                    agg: sum, window: 28d}

Aggregations: ``count`` (rows), ``sum``, ``mean``, ``min``, ``max``, ``nunique``, ``any`` (1 when a row exists).
Units with no row in the window get 0 for ``count``, ``sum``, ``nunique`` and ``any``; for ``mean``, ``min`` and
``max`` they get ``fill`` (a number), or the study fails with a DataError naming the feature when none is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ValidationError, field_validator, model_validator

from ..errors import SpecError
from .config import Filter, Window, _Model, check_identifier, format_validation_error, parse_duration, safe_load_yaml

AGGREGATIONS = ("count", "sum", "mean", "min", "max", "nunique", "any")
ZERO_WHEN_EMPTY = ("count", "sum", "nunique", "any")


class EventTable(_Model):
    unit: str
    time: str

    @field_validator("unit", "time")
    @classmethod
    def _ident(cls, v):
        return check_identifier(v, "column name")


class Feature(_Model):
    table: str
    agg: Literal[AGGREGATIONS]  # type: ignore[valid-type]
    column: str | None = None
    filter: tuple[Filter, ...] = ()
    window: int
    fill: float | None = None
    description: str = ""

    @field_validator("table", "column")
    @classmethod
    def _ident(cls, v):
        return v if v is None else check_identifier(v, "name")

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v):
        return parse_duration(v)

    @model_validator(mode="after")
    def _check(self):
        if self.window <= 0:
            raise ValueError("window must be a positive duration, e.g. 7d")
        if self.agg not in ("count", "any") and self.column is None:
            raise ValueError(f"agg {self.agg!r} needs a 'column'")
        return self

    def covariate_window(self) -> Window:
        """The default covariate window: the ``window`` before exposure, ``[-window, 0)``."""
        return Window.of_seconds(-self.window, 0)

    def outcome_window(self) -> Window:
        """The default outcome window: the ``window`` from exposure, ``[0, window)``."""
        return Window.of_seconds(0, self.window)


class Catalogue(_Model):
    tables: dict[str, EventTable]
    features: dict[str, Feature]

    @field_validator("tables", "features")
    @classmethod
    def _names(cls, v):
        for name in v:
            check_identifier(name, "name")
        return v

    @model_validator(mode="after")
    def _tables_known(self):
        for name, f in self.features.items():
            if f.table not in self.tables:
                raise ValueError(f"feature {name!r} reads table {f.table!r}, which is not under 'tables' "
                                 f"({sorted(self.tables)})")
        return self

    def feature(self, name: str, field: str) -> Feature:
        """The feature called ``name``; a SpecError naming ``field`` (the config path) when unknown."""
        try:
            return self.features[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self.features), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise SpecError(f"{field}: unknown feature {name!r}; the catalogue has {sorted(self.features)}.{hint}") \
                from None


def load_catalogue(source) -> Catalogue:
    """A catalogue from a YAML path, YAML text or a dict."""
    if isinstance(source, Catalogue):
        return source
    raw = source if isinstance(source, dict) else safe_load_yaml(Path(source) if not str(source).count("\n")
                                                                 else source, "catalogue")
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, "catalogue")) from None
