"""Data: load + validate event files."""
from core.data.load import DEFAULT_PARTS, Dataset, describe, load_dataset, write_draws_csv, write_multihot_csv

__all__ = ["DEFAULT_PARTS", "Dataset", "describe", "load_dataset", "write_draws_csv", "write_multihot_csv"]
