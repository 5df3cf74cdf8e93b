"""Data: load + validate event files."""

from core.data.load import (
    DEFAULT_PARTS,
    MAX_DATA_BYTES,
    MAX_DATA_ENV,
    Dataset,
    describe,
    load_dataset,
    load_for_config,
    max_data_bytes,
    write_draws_csv,
    write_multihot_csv,
)
from core.data.paths import resolve_data_path, resolve_run_data
from core.data.validate import UNSORTED_HINT_CLI, UNSORTED_HINT_CONFIG, UNSORTED_HINT_RUN

__all__ = [
    "DEFAULT_PARTS",
    "Dataset",
    "describe",
    "load_dataset",
    "load_for_config",
    "resolve_data_path",
    "write_draws_csv",
    "write_multihot_csv",
    "MAX_DATA_BYTES",
    "MAX_DATA_ENV",
    "max_data_bytes",
    "resolve_run_data",
    "UNSORTED_HINT_CLI",
    "UNSORTED_HINT_CONFIG",
    "UNSORTED_HINT_RUN",
]
