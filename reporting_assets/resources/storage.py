"""Where asset values live: one Parquet file per asset partition, under a configurable root.

Every partition is written to a temporary file and renamed into place, so concurrent runs of the
same partition never leave a half-written or duplicated file, and readers (DuckDB, Polars, other
runs) never take a lock. The root may be a local folder or an object-store URL.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
from upath import UPath

from reporting_assets.config import resolve


@dataclass(frozen=True)
class WrittenParquet:
    """A partition the asset wrote to a file itself (a day of events is too large to hand over
    as a frame); storing it moves the file into place."""

    path: Path


def staging_file(settings, asset: str, partition_key: str) -> Path:
    """A fresh file name for an asset to write its partition to before it is stored: under the
    data root, so moving it into place is a rename on the same disk."""
    folder = resolve(settings.storage.data_root) / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{asset}-{partition_key}-{uuid.uuid4().hex}.parquet"


class _ParquetPartitions(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(
        self, context: dg.OutputContext, obj: pl.DataFrame | WrittenParquet, path: UPath
    ) -> None:
        if not isinstance(obj, pl.DataFrame | WrittenParquet):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "this storage keeps Polars DataFrames and Parquet files"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        if isinstance(obj, WrittenParquet):
            if tmp.protocol in ("", "file", "local"):
                shutil.move(obj.path, Path(tmp.path))
            else:
                tmp.fs.put_file(str(obj.path), tmp.path)
                obj.path.unlink()
        else:
            with tmp.open("wb") as fh:
                obj.write_parquet(fh, compression="zstd")
        if tmp.protocol in ("", "file", "local"):
            os.replace(Path(tmp.path), Path(path.path))
        else:
            tmp.rename(path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame | pl.LazyFrame:
        # An input annotated pl.LazyFrame gets a scan: the consumer reads only the columns and
        # rows it uses, streaming, which is what makes a 10 M-event day cheap to aggregate.
        if context.dagster_type.typing_type is pl.LazyFrame:
            local = path.protocol in ("", "file", "local")
            return pl.scan_parquet(path.path if local else str(path))
        with path.open("rb") as fh:
            return pl.read_parquet(fh)

    def load_input(self, context: dg.InputContext):
        # A declared window of earlier partitions (`window_in`) always arrives as a dict of the
        # partitions that exist, oldest first, so a missing day is visible to the asset (which
        # says so) instead of failing the load; "row_counts" reads only the Parquet footers.
        mode = (context.definition_metadata or {}).get(WINDOW)
        if mode is None or not context.has_asset_partitions:
            return super().load_input(context)
        out = {}
        for key, path in sorted(self._get_paths_for_partitions(context).items()):
            if not path.exists():
                continue
            if mode == ROW_COUNTS:
                with path.open("rb") as fh:
                    out[key] = pq.ParquetFile(fh).metadata.num_rows
            else:
                out[key] = self.load_from_path(context, path)
        return out


WINDOW, ROW_COUNTS, FRAMES = "window", "row_counts", "frames"


def _window_in(asset: str, start_offset: int, end_offset: int, mode: str) -> dg.AssetIn:
    with warnings.catch_warnings():
        # The first partitions of the history have no earlier ones, and a month's later days
        # do not exist yet: both are expected, not errors.
        warnings.simplefilter("ignore", dg.BetaWarning)
        mapping = dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset,
            allow_nonexistent_upstream_partitions=True,
        )  # fmt: skip
    return dg.AssetIn(asset, partition_mapping=mapping, metadata={WINDOW: mode})


def window_in(
    asset: str, start_offset: int, end_offset: int = -1, *, row_counts: bool = False
) -> dg.AssetIn:
    """A declared dependency on a window of an asset's daily partitions relative to the one
    being computed (-27..0: the 28 days ending today; -56..-1: the 8 weeks before). The graph
    shows it and Dagster orders backfills by it; the asset receives {partition key: frame} for
    the partitions that exist (or their row counts)."""
    return _window_in(asset, start_offset, end_offset, ROW_COUNTS if row_counts else FRAMES)


def period_in(asset: str, start_offset: int = 0, end_offset: int = 0) -> dg.AssetIn:
    """A declared dependency on every partition of `asset` inside the week or month being
    computed (with offsets, in weeks or months, also the periods around it); the asset
    receives {partition key: frame} for those that exist (a month's later days do not yet)."""
    return _window_in(asset, start_offset, end_offset, FRAMES)


class PartitionedParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores each asset partition as `<root>/<asset>/<partition>.parquet`."""

    root: str = "var/data/assets"

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetPartitions:
        root = self.root if "://" in self.root else str(resolve(self.root))
        return _ParquetPartitions(base_path=UPath(root))


class AssetHistory(dg.ConfigurableResource):
    """Stored partitions of assets, for sensors and commands that look at what has landed (the
    newest alert list, the demo's summary). Assets never use it: an asset declares the earlier
    partitions it reads (`window_in`, `period_in`) and the IO manager loads them."""

    root: str = "var/data/assets"

    def _base(self) -> UPath:
        return UPath(self.root if "://" in self.root else str(resolve(self.root)))

    def path(self, asset: str, partition_key: str) -> UPath:
        return self._base() / asset / f"{partition_key}.parquet"

    def stored_keys(self, asset: str) -> list[str]:
        """The partition keys stored for an asset, oldest first."""
        folder = self._base() / asset
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    def read(self, asset: str, partition_keys: list[str]) -> pl.DataFrame | None:
        """The stored partitions that exist, concatenated; None when none exists."""
        frames = []
        for key in partition_keys:
            path = self.path(asset, key)
            if path.exists():
                with path.open("rb") as fh:
                    frames.append(pl.read_parquet(fh))
        return pl.concat(frames, how="diagonal_relaxed") if frames else None
