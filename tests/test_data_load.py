"""core.data.load: the bad-file corpus, round trips, parquet, describe, gaps, sorting."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT

from core.data import DEFAULT_PARTS, Dataset, describe, load_dataset, write_draws_csv, write_multihot_csv
from core.errors import DataError

BAD = ROOT / "tests" / "data" / "bad"
GOOD = ROOT / "tests" / "data" / "good"


# ----------------------------------------------------------------------------- bad corpus
def _corpus() -> list[tuple[str, dict, int | None, str]]:
    rows = []
    for line in (BAD / "README.md").read_text().splitlines():
        m = re.fullmatch(r"\| (\S+) \|([^|]*)\| (\S+) \| (.*) \|", line)
        if not m or m[1] in ("file",) or set(m[1]) == {"-"}:
            continue
        kwargs = {k: int(v) if v.isdigit() else v for k, v in (kv.split("=") for kv in m[2].split())}
        rows.append((m[1], kwargs, None if m[3] == "-" else int(m[3]), m[4]))
    return rows


CORPUS = _corpus()


def test_corpus_table_matches_the_files():
    listed = [r[0] for r in CORPUS]
    assert len(listed) == len(set(listed))
    on_disk = {p.name for p in BAD.iterdir() if p.name != "README.md"}
    assert set(listed) == on_disk
    assert len(listed) >= 40


@pytest.mark.parametrize("name,kwargs,line,fragment", CORPUS, ids=[r[0] for r in CORPUS])
def test_bad_file(name, kwargs, line, fragment):
    path = BAD / name
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)
    err = info.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert fragment in err.problem, str(err)
    where = str(path) if line is None else f"{path}:{line}"
    assert str(err) == f"{where}: {err.problem}"
    assert "\n" not in str(err)


def test_loading_writes_nothing():
    before = {p.name: p.stat().st_mtime_ns for p in BAD.iterdir()}
    for name, kwargs, _, _ in CORPUS:
        with pytest.raises(DataError):
            load_dataset(BAD / name, **kwargs)
    load_dataset(GOOD / "small_draws.csv")
    assert {p.name: p.stat().st_mtime_ns for p in BAD.iterdir()} == before
    assert sorted(p.name for p in GOOD.iterdir()) == ["README.md", "small_draws.csv", "small_multihot.csv"]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="directory"):
        load_dataset(tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError):
        load_dataset(GOOD / "small_draws.csv", parts=0)
    with pytest.raises(ValueError):
        load_dataset(GOOD / "small_draws.csv", events_per_day=0)


# ----------------------------------------------------------------------------- helpers
def _random(T=60, P=DEFAULT_PARTS, K=5, seed=0, start="1999-12-25"):
    rng = np.random.default_rng(seed)
    Y = np.zeros((T, P), bool)
    for t in range(T):
        Y[t, rng.choice(P, K, replace=False)] = True
    dates = np.datetime64(start) + np.cumsum(rng.integers(1, 3, T))
    return dates.astype("datetime64[D]"), Y


def _same(ds: Dataset, dates, Y):
    assert ds.dates.dtype == np.dtype("datetime64[D]")
    assert ds.Y.dtype == bool
    np.testing.assert_array_equal(ds.dates, dates)
    np.testing.assert_array_equal(ds.Y, Y)


# ----------------------------------------------------------------------------- round trips
def test_draws_round_trip(tmp_path):
    dates, Y = _random()
    f = tmp_path / "d.csv"
    write_draws_csv(f, dates, Y)
    lines = f.read_text().splitlines()
    assert lines[0] == "date,e1,e2,e3,e4,e5"
    ids = [int(x) for x in lines[1].split(",")[1:]]
    assert ids == sorted(ids) and ids == list(np.flatnonzero(Y[0]) + 1)
    ds = load_dataset(f, parts=DEFAULT_PARTS, events_per_day=5)
    _same(ds, dates, Y)
    assert (ds.fmt, ds.T, ds.P, ds.path) == ("draws", 60, DEFAULT_PARTS, f)
    assert ds.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()


def test_multihot_round_trip(tmp_path):
    dates, Y = _random(seed=1)
    f = tmp_path / "m.csv"
    write_multihot_csv(f, dates, Y)
    assert f.read_text().splitlines()[0] == "date," + ",".join(f"part_{j}" for j in range(1, 40))
    ds = load_dataset(f, parts=DEFAULT_PARTS, events_per_day=5)
    _same(ds, dates, Y)
    assert ds.fmt == "multihot"


def test_draws_and_multihot_give_identical_data(tmp_path):
    dates, Y = _random(seed=2)
    write_draws_csv(tmp_path / "d.csv", dates, Y)
    write_multihot_csv(tmp_path / "m.csv", dates, Y)
    a = load_dataset(tmp_path / "d.csv", parts=DEFAULT_PARTS)
    b = load_dataset(tmp_path / "m.csv")
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.dates, b.dates)
    g1, g2 = load_dataset(GOOD / "small_draws.csv"), load_dataset(GOOD / "small_multihot.csv")
    np.testing.assert_array_equal(g1.Y, g2.Y)
    assert g1.P == g2.P == 6


def test_draws_P_defaults_to_largest_id(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("date,e1,e2\n2020-01-01,1,7\n2020-01-02,3,2\n")
    assert load_dataset(f).P == 7
    assert load_dataset(f, parts=39).P == 39


def test_huge_id_without_parts_is_refused_not_allocated(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("date,e1\n2020-01-01,1\n2020-01-02,99999999999999999999999\n")
    with pytest.raises(DataError, match=r"d.csv:3: part id 99999999999999999999999 is out of range"):
        load_dataset(f)


def test_writers_refuse_bad_input(tmp_path):
    dates, Y = _random(T=5)
    Y2 = Y.copy()
    Y2[3, np.flatnonzero(~Y2[3])[0]] = True
    with pytest.raises(ValueError, match="same number"):
        write_draws_csv(tmp_path / "d.csv", dates, Y2)
    with pytest.raises(ValueError):
        write_multihot_csv(tmp_path / "m.csv", dates[:4], Y)
    with pytest.raises(ValueError):
        write_multihot_csv(tmp_path / "m.csv", dates, Y.astype(int) * 2)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_tolerated_variations(tmp_path):
    """BOM, CRLF, spaces, quotes, upper-case header, column order, gzip, blank lines."""
    base = load_dataset(GOOD / "small_draws.csv")
    text = (GOOD / "small_draws.csv").read_text()
    variants = {
        "bom.csv": ("\ufeff" + text).encode(),
        "crlf.csv": text.replace("\n", "\r\n").encode(),
        "spaces.csv": text.replace(",", " , ").encode(),
        "quoted.csv": re.sub(r"(\d{4}-\d\d-\d\d)", r'"\1"', text).encode(),
        "upper.csv": text.replace("date,e1,e2", "Date,E1,E2").encode(),
        "reordered.csv": "\n".join(",".join(reversed(r.split(","))) for r in text.splitlines()).encode(),
        "gz.csv.gz": gzip.compress(text.encode()),
        "no_final_newline.csv": text.rstrip("\n").encode(),
    }
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        ds = load_dataset(tmp_path / name)
        _same(ds, base.dates, base.Y)
        assert ds.sha256 == hashlib.sha256(data).hexdigest()
    (tmp_path / "blank.csv").write_text(text.replace("\n2020-01-03", "\n\n2020-01-03"))
    ds = load_dataset(tmp_path / "blank.csv")
    _same(ds, base.dates, base.Y)
    assert any("skipped 1 blank line" in w for w in ds.warnings)
    (tmp_path / "trailing.csv").write_text(text + "\n\n")
    assert load_dataset(tmp_path / "trailing.csv").warnings == base.warnings


def test_dataset_is_read_only():
    ds = load_dataset(GOOD / "small_draws.csv")
    with pytest.raises(ValueError):
        ds.Y[0, 0] = True
    with pytest.raises(AttributeError):
        ds.fmt = "multihot"


# ----------------------------------------------------------------------------- sorting, gaps, describe
def test_allow_unsorted_sorts_and_warns():
    path = BAD / "unsorted_draws.csv"
    ds = load_dataset(path, allow_unsorted=True)
    assert list(ds.dates.astype(str)) == ["2001-01-01", "2001-01-02", "2001-01-03", "2001-01-04"]
    # rows move with their dates: 2001-01-02 is `1,5,9,18,30`
    assert list(np.flatnonzero(ds.Y[1]) + 1) == [1, 5, 9, 18, 30]
    assert any(w.startswith("sorted 2 rows") for w in ds.warnings)
    # duplicates are still refused, naming both lines
    with pytest.raises(DataError, match=r"appears twice \(lines 3 and 5\)"):
        load_dataset(BAD / "duplicate_date_draws.csv", allow_unsorted=True)


def test_sorted_file_has_no_warnings(tmp_path):
    dates = np.datetime64("2020-01-01") + np.arange(10)
    Y = np.eye(10, dtype=bool)
    write_multihot_csv(tmp_path / "m.csv", dates, Y)
    ds = load_dataset(tmp_path / "m.csv", allow_unsorted=True)
    assert ds.warnings == () and ds.gaps == [] and ds.n_gaps == 0


def test_gaps_are_reported():
    ds = load_dataset(GOOD / "small_draws.csv")
    d = np.datetime64
    assert ds.gaps == [(d("2020-01-03"), d("2020-01-06"), 2), (d("2020-01-07"), d("2020-01-09"), 1)]
    assert ds.n_gaps == 2 and ds.missing_days == 3
    assert any(
        "2 gaps in the dates (3 missing days in all; largest 2 between 2020-01-03 and 2020-01-06)" in w
        for w in ds.warnings
    )


def test_describe_small_file():
    ds = load_dataset(GOOD / "small_draws.csv")
    info = describe(ds)
    assert json.loads(json.dumps(info)) == info  # JSON-ready as is
    assert info["path"] == str(GOOD / "small_draws.csv")
    assert info["sha256"] == hashlib.sha256((GOOD / "small_draws.csv").read_bytes()).hexdigest()
    assert (info["format"], info["T"], info["P"]) == ("draws", 6, 6)
    assert (info["start"], info["end"], info["span_days"]) == ("2020-01-01", "2020-01-09", 9)
    assert info["gaps"] == {
        "count": 2,
        "missing_days": 3,
        "largest": [
            {"after": "2020-01-03", "before": "2020-01-06", "missing_days": 2},
            {"after": "2020-01-07", "before": "2020-01-09", "missing_days": 1},
        ],
    }
    counts = [3, 2, 4, 1, 1, 1]
    assert info["per_part_frequency"] == [
        {"part": k + 1, "count": c, "rate": pytest.approx(c / 6)} for k, c in enumerate(counts)
    ]
    assert info["events_per_day_histogram"] == {"2": 6}
    assert info["events_per_day_mean"] == 2.0
    assert len(info["warnings"]) == 1
    assert info["detected"]["date_format"] == "YYYY-MM-DD"
    assert info["detected"]["part_columns"] == ["e1", "e2"]
    m = describe(load_dataset(GOOD / "small_multihot.csv"))
    assert m["format"] == "multihot"
    assert m["detected"]["part_columns"] == [f"part_{k}" for k in range(1, 7)]
    skip = ("path", "sha256", "format", "detected")
    assert {k: v for k, v in m.items() if k not in skip} == {k: v for k, v in info.items() if k not in skip}


def test_describe_uneven_days(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("date,part_1,part_2,part_3\n2020-01-01,1,1,0\n2020-01-02,0,0,0\n2020-01-03,1,1,1\n2020-01-04,1,0,0\n")
    info = describe(load_dataset(f))
    assert info["events_per_day_histogram"] == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert info["events_per_day_mean"] == 1.5
    assert [p["count"] for p in info["per_part_frequency"]] == [3, 2, 1]


# ----------------------------------------------------------------------------- parquet
def _parquet(path, columns: dict):
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("date_kind", ["date32", "timestamp", "string"])
def test_parquet_round_trip_both_formats(tmp_path, date_kind):
    dates, Y = _random(T=40, seed=3)
    dcol = {
        "date32": pa.array(dates),
        "timestamp": pa.array(dates.astype("datetime64[ns]")),
        "string": pa.array(dates.astype(str).tolist()),
    }[date_kind]
    ids = np.nonzero(Y)[1].reshape(-1, 5) + 1
    draws = _parquet(tmp_path / "d.parquet", {"date": dcol, **{f"e{k + 1}": pa.array(ids[:, k]) for k in range(5)}})
    multi = _parquet(
        tmp_path / "m.parquet",
        {"date": dcol, **{f"part_{p + 1}": pa.array(Y[:, p].astype(np.int8)) for p in range(39)}},
    )
    a = load_dataset(draws, parts=39, events_per_day=5)
    b = load_dataset(multi, parts=39, events_per_day=5)
    assert (a.fmt, b.fmt) == ("draws", "multihot")
    _same(a, dates, Y)
    _same(b, dates, Y)
    assert a.sha256 == hashlib.sha256(draws.read_bytes()).hexdigest()


def test_parquet_bool_and_float_columns(tmp_path):
    dates, Y = _random(T=10, P=6, K=2, seed=4)
    f = _parquet(
        tmp_path / "m.parquet", {"date": pa.array(dates), **{f"part_{p + 1}": pa.array(Y[:, p]) for p in range(6)}}
    )
    _same(load_dataset(f), dates, Y)
    ids = (np.nonzero(Y)[1].reshape(-1, 2) + 1).astype(float)
    f = _parquet(
        tmp_path / "d.parquet", {"date": pa.array(dates), "e1": pa.array(ids[:, 0]), "e2": pa.array(ids[:, 1])}
    )
    _same(load_dataset(f, parts=6), dates, Y)


def test_parquet_problems_name_the_row(tmp_path):
    d = pa.array(np.datetime64("2020-01-01") + np.arange(4))
    f = _parquet(tmp_path / "null.parquet", {"date": d, "e1": pa.array([1, 2, None, 4])})
    with pytest.raises(DataError) as info:
        load_dataset(f)
    assert info.value.line is None and info.value.path == str(f)
    assert "row 3: missing value in column e1" in str(info.value)
    f = _parquet(tmp_path / "frac.parquet", {"date": d, "e1": pa.array([1.0, 2.5, 3.0, 4.0])})
    with pytest.raises(DataError, match=r"row 2: part id '2.5' in column e1 is not an integer"):
        load_dataset(f)
    f = _parquet(tmp_path / "range.parquet", {"date": d, "e1": pa.array([1.0, 2.0, 41.0, 4.0])})
    with pytest.raises(DataError, match=r"row 3: part id 41 is out of range 1..39"):
        load_dataset(f, parts=39)
    f = _parquet(
        tmp_path / "time.parquet",
        {"date": pa.array(np.array(["2020-01-01T00", "2020-01-02T06"], "datetime64[ns]")), "e1": pa.array([1, 2])},
    )
    with pytest.raises(DataError, match=r"row 2: bad date"):
        load_dataset(f)
    f = _parquet(tmp_path / "unsorted.parquet", {"date": d[::-1], "e1": pa.array([1, 2, 3, 4])})
    with pytest.raises(DataError, match=r"row 2: date 2020-01-03 comes after 2020-01-04 \(row 1\)"):
        load_dataset(f)
    f = _parquet(tmp_path / "cols.parquet", {"date": d, "e1": pa.array([1, 2, 3, 4]), "x": pa.array([0] * 4)})
    with pytest.raises(DataError, match="unknown column 'x'"):
        load_dataset(f)
    f = _parquet(tmp_path / "empty.parquet", {"date": pa.array([], pa.date32()), "e1": pa.array([], pa.int64())})
    with pytest.raises(DataError, match="no data rows"):
        load_dataset(f)
    f = tmp_path / "junk.parquet"
    f.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_dataset(f)


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    f = _parquet(tmp_path / "d.parquet", {"date": pa.array(["2020-01-01"]), "e1": pa.array([1])})
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow...` raise ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError) as info:
        load_dataset(f)
    assert "pip install 'synapse[parquet]'" in str(info.value)
    assert info.value.path == str(f)


# ----------------------------------------------------------------------------- property test
@st.composite
def _data(draw):
    T = draw(st.integers(1, 25))
    P = draw(st.integers(1, 12))
    K = draw(st.integers(1, P))
    steps = draw(st.lists(st.integers(1, 400), min_size=T, max_size=T))
    start = draw(st.integers(-20000, 20000))
    dates = np.datetime64("1970-01-01") + start + np.cumsum(steps)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Y = np.zeros((T, P), bool)
    for t in range(T):
        Y[t, rng.choice(P, K, replace=False)] = True
    return dates.astype("datetime64[D]"), Y, K


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_data())
def test_round_trip_property(tmp_path, data):
    dates, Y, K = data
    write_draws_csv(tmp_path / "d.csv", dates, Y)
    write_multihot_csv(tmp_path / "m.csv", dates, Y)
    a = load_dataset(tmp_path / "d.csv", parts=Y.shape[1], events_per_day=K)
    b = load_dataset(tmp_path / "m.csv", parts=Y.shape[1], events_per_day=K)
    _same(a, dates, Y)
    _same(b, dates, Y)
    assert a.n_gaps == int((np.diff(dates).astype(int) > 1).sum()) == b.n_gaps
