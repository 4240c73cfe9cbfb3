"""Engines: an Ibis connection to DuckDB (embedded, the default) or PySpark, and the study's tables on it.

Ibis and PySpark are imported here, lazily, so ``import bayescausal`` stays fast. A Spark session is the
caller's (``spark=``, any cluster) or a local one made on first use (``local[2]``, UI off, few shuffle
partitions, UTC session time zone so that timestamps are not shifted).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

from ..errors import DataError, SpecError
from .config import DataConfig

_LOCAL_SPARK = None


def local_spark_session(app: str = "bayescausal-study", conf: dict | None = None):
    """One local Spark session per process (``local[2]``), made on first use; ``conf``: extra settings for that
    first use (tests turn code generation off: it costs more than it saves on tiny tables)."""
    global _LOCAL_SPARK
    if _LOCAL_SPARK is None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise SpecError("engine 'spark' needs PySpark: pip install 'bayescausal[spark]' (and Java 17+).") from None
        builder = SparkSession.builder
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        _LOCAL_SPARK = (builder.master("local[2]").appName(app)
                        .config("spark.ui.enabled", "false")
                        .config("spark.sql.shuffle.partitions", "2")
                        .config("spark.sql.session.timeZone", "UTC")
                        .config("spark.driver.memory", "2g")
                        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
                        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="bayescausal-spark-"))
                        .getOrCreate())
        _LOCAL_SPARK.sparkContext.setLogLevel("ERROR")
    return _LOCAL_SPARK


@dataclass
class Engine:
    """An Ibis backend plus the study's tables on it (by the config's table names)."""

    name: str
    con: object
    tables: dict = field(default_factory=dict)

    def table(self, name: str, field_path: str):
        try:
            return self.tables[name]
        except KeyError:
            raise SpecError(f"{field_path}: unknown table {name!r}; data.sources has {sorted(self.tables)}.") from None

    def execute(self, expr):
        """Run an expression; the result as a pandas frame."""
        return expr.to_pandas() if hasattr(expr, "to_pandas") else expr.execute()


def connect(data: DataConfig, spark=None, con=None) -> Engine:
    """Connect to the configured engine and register every source as a table (nothing is read yet)."""
    import ibis

    engine = data.engine if spark is None else "spark"
    if con is None:
        if engine == "duckdb":
            options = {}
            if data.memory_limit:
                options["memory_limit"] = data.memory_limit
            if data.threads:
                options["threads"] = data.threads
            con = ibis.duckdb.connect(data.database or ":memory:", **options)
        else:
            con = ibis.pyspark.connect(spark if spark is not None else local_spark_session())
    eng = Engine(engine, con)
    for name, src in data.sources.items():
        eng.tables[name] = _register(eng, name, src)
    return eng


def _register(eng: Engine, name: str, src):
    import glob

    con = eng.con
    if src.table is not None:
        try:
            return con.table(src.table)
        except Exception as exc:  # the backend's own "table not found"
            raise SpecError(f"data.sources.{name}.table: no table {src.table!r} in the {eng.name} database "
                            f"({type(exc).__name__}).") from None
    if not glob.glob(src.path):
        raise DataError(f"data.sources.{name}.path: no file matches {src.path!r}.")
    view = f"bc_src_{name}"
    if src.file_format == "csv":
        if eng.name == "spark":
            return con.read_csv(src.path, table_name=view, header=True, inferSchema=True)
        return con.read_csv(src.path, table_name=view)
    return con.read_parquet(src.path, table_name=view)
