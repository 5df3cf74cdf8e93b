"""Data: load + validate event files."""
from core.data.load import DEFAULT_PARTS, Dataset, describe, load_dataset, write_draws_csv, write_multihot_csv
from core.data.paths import resolve_data_path

__all__ = ["DEFAULT_PARTS", "Dataset", "describe", "load_dataset", "resolve_data_path", "write_draws_csv",
           "write_multihot_csv"]
