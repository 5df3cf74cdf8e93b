"""Real files as they come (issue 21, part 1): the layout real histories are kept in
(`date,m_1..m_5`, US dates M/D/YYYY, parts sorted, no newline at the end, four draws a
week in the early years) validates and trains with no edits and no flags; the date format
is inferred from the whole column; BOM, CRLF, quotes, spaces and trailing blank lines are
tolerated; `data.columns` names the columns detection cannot find."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from core.config import load_config
from core.data import describe, load_dataset, synthetic
from core.data.dates import parse_format
from core.data.load import calendar
from core.errors import ConfigError, DataError
from synapse_tui.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _real(tmp_path, *, days=600, weekly_years=2, seed=5, name="real.csv"):
    out = tmp_path / name
    r = invoke(
        "data", "generate", "--layout", "draws-us", "--days", days, "--weekly-years", weekly_years,
        "--seed", seed, "--start", "1992-02-04", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return _real(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="module")
def base(real):
    return load_dataset(real)


def _us(d: np.datetime64) -> str:
    y, m, dd = str(d).split("-")
    return f"{int(m)}/{int(dd)}/{y}"


# ----------------------------------------------------------------------------- the layout itself
def test_generated_file_is_the_real_layout(real):
    raw = real.read_bytes()
    text = raw.decode("ascii")
    lines = text.split("\n")
    assert lines[0] == "date,m_1,m_2,m_3,m_4,m_5"
    assert lines[1] == "2/4/1992," + lines[1].split(",", 1)[1]  # M/D/YYYY, no leading zeros
    assert not text.endswith("\n") and "\r" not in text
    for line in lines[1:50]:
        ids = [int(x) for x in line.split(",")[1:]]
        assert ids == sorted(ids) and len(set(ids)) == 5
    dates = np.array([np.datetime64("-".join((y, m.zfill(2), d.zfill(2)))) for m, d, y in
                      (line.split(",")[0].split("/") for line in lines[1:])])  # fmt: skip
    steps = np.diff(dates).astype(int)
    weekday = (dates.astype(np.int64) + 3) % 7
    early = dates < np.datetime64("1994-02-04")
    assert set(weekday[early].tolist()) == {0, 1, 3, 5}  # Mon, Tue, Thu, Sat
    assert (steps[early[1:]] > 1).any() and (steps[~early[:-1]] == 1).all()
    assert synthetic.truth_path(real).exists()


def test_real_layout_validates_with_no_flags_and_describes_what_it_found(real, base):
    assert (base.fmt, base.P, base.T) == ("draws", 39, 600)
    assert (base.Y.sum(1) == 5).all()
    d = base.detected
    assert d["date_format"] == "M/D/YYYY" and "second number goes above 12" in d["date_format_why"]
    assert re.search(r"line \d+: '2/1[3-9]/1992'", d["date_format_why"]), d["date_format_why"]
    assert d["part_columns"] == [f"m_{k}" for k in range(1, 6)] and d["date_column"] == "date"
    assert d["K"] == 5 and d["layout"] == "draws"
    assert re.fullmatch(
        r"4 draws a week \(Mon, Tue, Thu, Sat\) until 1994-02-\d\d, then daily from 1994-02-\d\d", d["calendar"]
    ), d["calendar"]
    assert describe(base)["detected"] == d

    r = invoke("data", "validate", real)
    assert r.exit_code == 0, r.stderr
    assert "OK" in r.stdout and "dates M/D/YYYY" in r.stdout
    r = invoke("data", "describe", real)
    assert r.exit_code == 0, r.stderr
    flat = " ".join(r.stdout.split())  # rich wraps long cells
    for word in ("date format", "M/D/YYYY", "m_1, m_2, m_3, m_4, m_5", "4 draws a week", "then daily", "(K) 5"):
        assert word in flat, r.stdout
    assert r.stderr.count("gaps in the dates") == 1, r.stderr  # the gap warning, once
    assert "the calendar: 4 draws a week" in r.stderr


def test_generate_draws_us_is_deterministic(tmp_path):
    a = _real(tmp_path, name="a.csv", seed=9)
    b = _real(tmp_path, name="b.csv", seed=9)
    assert a.read_bytes() == b.read_bytes()
    assert synthetic.truth_path(a).read_bytes() == synthetic.truth_path(b).read_bytes()


# ----------------------------------------------------------------------------- tolerances
def _same(ds, base):
    np.testing.assert_array_equal(ds.dates, base.dates)
    np.testing.assert_array_equal(ds.Y, base.Y)


@pytest.mark.parametrize(
    "name,transform",
    [
        ("crlf_bom", lambda t: "\ufeff" + t.replace("\n", "\r\n")),
        ("quoted", lambda t: "\n".join(",".join(f'"{c}"' for c in line.split(",")) for line in t.split("\n"))),
        ("spaces", lambda t: "\n".join(" , ".join(f" {c}" for c in line.split(",")) for line in t.split("\n"))),
        (
            "quoted_spaced",
            lambda t: "\n".join(" , ".join(f' "{c}" ' for c in line.split(",")) for line in t.split("\n")),
        ),
        ("trailing_blank_lines", lambda t: t + "\n\n\n  \n"),
        ("final_newline", lambda t: t + "\n"),
        (
            "crlf_bom_quoted",
            lambda t: "\ufeff" + "\r\n".join(",".join(f'"{c}"' for c in line.split(",")) for line in t.split("\n")),
        ),
    ],
)
def test_tolerated_variants_load_the_same(tmp_path, real, base, name, transform):
    f = tmp_path / f"{name}.csv"
    f.write_bytes(transform(real.read_text()).encode("utf-8"))
    ds = load_dataset(f)
    _same(ds, base)
    assert ds.detected["date_format"] == "M/D/YYYY"
    assert not any("blank" in w for w in ds.warnings)  # trailing blank lines are harmless
    assert invoke("data", "validate", f).exit_code == 0


def test_quoted_header_with_spaces_and_a_ragged_first_row(tmp_path):
    f = tmp_path / "q.csv"
    f.write_bytes(b'\xef\xbb\xbf"Draw Date" , "N 1", "N 2"\r\n"1/13/2001", 3 ,"4"\r\n\r\n')
    ds = load_dataset(f)
    assert ds.detected["part_columns"] == ["N 1", "N 2"] and ds.detected["date_column"] == "Draw Date"
    f.write_text("date,a,b\n1/13/2001,1,2,3\n1/14/2001,1,2\n")
    with pytest.raises(DataError) as e:
        load_dataset(f)
    assert (e.value.line, e.value.problem) == (2, "this line has 4 fields but the header has 3 (too many)")


def test_quoted_header_and_cells_crlf_bom_no_final_newline(tmp_path):
    f = tmp_path / "q.csv"
    f.write_bytes(b'\xef\xbb\xbf"date","m_1","m_2"\r\n"2/4/1992","3","7"\r\n"2/13/1992","1","5"')
    ds = load_dataset(f)
    assert ds.dates.tolist()[1] == np.datetime64("1992-02-13").astype(object)
    assert ds.Y[0, [2, 6]].all()


@pytest.mark.parametrize("header", ["date,N_1,N_2,N_3,N_4,N_5", "date,n1,n2,n3,n4,n5", "Date,ball1,ball2,ball3,ball4,ball5",
                                    "DATE,e1,e2,e3,e4,e5", "draw_date,m_1,m_2,m_3,m_4,m_5", "Draw Date,a,b,c,d,e",
                                    "when,m_1,m_2,m_3,m_4,m_5"])  # fmt: skip
def test_part_columns_found_by_shape_whatever_their_names(tmp_path, real, base, header):
    f = tmp_path / "h.csv"
    f.write_text(header + "\n" + real.read_text().split("\n", 1)[1])
    ds = load_dataset(f, parts=39, events_per_day=5)
    _same(ds, base)
    assert ds.detected["date_column"] == header.split(",")[0]


def test_unsorted_parts_within_a_row_are_fine(tmp_path, base):
    f = tmp_path / "u.csv"
    rows = ["date,m_1,m_2,m_3,m_4,m_5"]
    for d, y in zip(base.dates[:40], base.Y[:40]):
        ids = (np.flatnonzero(y) + 1)[::-1]
        rows.append(_us(d) + "," + ",".join(map(str, ids)))
    f.write_text("\n".join(rows))
    _same(load_dataset(f), type(base)(base.dates[:40], base.Y[:40], f, "", "draws"))


def test_numbered_columns_are_taken_in_number_order(tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("date,m_2,m_1,m_3\n1/13/2001,5,1,9\n1/14/2001,6,2,7\n")
    ds = load_dataset(f)
    assert ds.detected["part_columns"] == ["m_1", "m_2", "m_3"]
    assert ds.Y[0, [0, 4, 8]].all() and ds.Y[0].sum() == 3


def test_multihot_by_shape(tmp_path):
    f = tmp_path / "mh.csv"
    f.write_text("day,p1,p2,p3,p4\n13.1.2001,1,0,1,0\n14.1.2001,0,1,1,0\n")
    ds = load_dataset(f)
    assert ds.fmt == "multihot" and ds.detected["date_format"] == "D.M.YYYY"
    assert ds.Y.tolist() == [[True, False, True, False], [False, True, True, False]]


# ----------------------------------------------------------------------------- date formats
@pytest.mark.parametrize(
    "cells,fmt",
    [
        (["2001-01-02", "2001-1-3", "2001-01-13"], "YYYY-MM-DD"),
        (["1/2/2001", "01/03/2001", "1/13/2001"], "M/D/YYYY"),
        (["2/1/2001", "03/01/2001", "13/1/2001"], "D/M/YYYY"),
        (["2.1.2001", "03.01.2001", "13.01.2001"], "D.M.YYYY"),
        (["20010102", "20010103", "20010113"], "YYYYMMDD"),
    ],
)
def test_date_formats_inferred_from_the_whole_column(tmp_path, cells, fmt):
    f = tmp_path / "d.csv"
    f.write_text("date,e1,e2\n" + "\n".join(f"{c},1,2" for c in cells) + "\n")
    ds = load_dataset(f)
    assert ds.detected["date_format"] == fmt
    assert [str(d) for d in ds.dates] == ["2001-01-02", "2001-01-03", "2001-01-13"]


def test_a_day_above_12_late_in_the_column_settles_the_order(tmp_path):
    # every date up to line 2,001 reads either way; only the last one says D/M
    days = np.datetime64("2001-01-01") + np.arange(0, 6000, 1)
    keep = [d for d in days if int(str(d)[8:]) <= 12][:2000]
    keep.append(keep[-1] + 13)  # the 13th at the earliest: the first day above 12
    f = tmp_path / "late.csv"
    f.write_text("date,e1\n" + "\n".join(f"{int(str(d)[8:])}/{int(str(d)[5:7])}/{str(d)[:4]},1" for d in keep))
    ds = load_dataset(f)
    assert ds.detected["date_format"] == "D/M/YYYY" and "line 2002" in ds.detected["date_format_why"]
    assert ds.dates[-1] == keep[-1]


def test_ambiguous_dates_refused_naming_the_flag_and_the_key_then_accepted_with_them(tmp_path):
    f = tmp_path / "amb.csv"
    f.write_text("date,m_1,m_2\n2/4/1992,1,2\n3/4/1992,3,4\n4/4/1992,5,6\n")
    with pytest.raises(DataError) as e:
        load_dataset(f)
    assert e.value.line == 2
    assert "--date-format" in str(e.value) and "data.date_format" in str(e.value)
    us = load_dataset(f, date_format="M/D/YYYY")
    eu = load_dataset(f, date_format="D/M/YYYY")
    assert [str(d) for d in us.dates] == ["1992-02-04", "1992-03-04", "1992-04-04"]
    assert [str(d) for d in eu.dates] == ["1992-04-02", "1992-04-03", "1992-04-04"]
    assert us.detected["date_format_why"].startswith("given")
    r = invoke("data", "validate", f)
    assert r.exit_code == 2 and "--date-format" in r.stderr and f"{f}:2:" in r.stderr
    r = invoke("data", "validate", f, "--date-format", "D/M/YYYY")
    assert r.exit_code == 0 and "1992-04-02 .. 1992-04-04" in r.stdout, r.stderr
    r = invoke("data", "describe", f, "--date-format", "M/D/YYYY", "--json")
    assert json.loads(r.stdout)["detected"]["date_format"] == "M/D/YYYY"


def test_same_day_and_month_everywhere_is_not_ambiguous(tmp_path):
    f = tmp_path / "eq.csv"
    f.write_text("date,e1\n1/1/2001,1\n2/2/2001,2\n")
    assert str(load_dataset(f).dates[1]) == "2001-02-02"


def test_given_format_that_does_not_fit_names_the_line(tmp_path, real):
    with pytest.raises(DataError) as e:
        load_dataset(real, date_format="YYYY-MM-DD")
    assert (e.value.line, str(e.value).split(": ", 1)[1]) == (
        2,
        "bad date '2/4/1992': expected a date YYYY-MM-DD (the date format given)",
    )
    r = invoke("data", "validate", real, "--date-format", "D/M/YYYY")
    assert r.exit_code == 2
    assert re.search(rf"{re.escape(str(real))}:\d+: bad date '\d+/1[3-9]/1992': there is no such day read as D/M/YYYY",
                     r.stderr), r.stderr  # fmt: skip
    r = invoke("data", "validate", real, "--date-format", "Q/D")
    assert r.exit_code == 2 and "--date-format 'Q/D' is not a date format" in r.stderr


def test_parse_format_forms():
    assert parse_format("mm/dd/yyyy").name == "M/D/YYYY"
    assert parse_format("DD.MM.YYYY").name == "D.M.YYYY"
    assert parse_format("iso").name == "YYYY-MM-DD"
    assert parse_format("YYYYMMDD").name == "YYYYMMDD"
    for bad in ("DDMMYYYY", "YYYY-DD", "M/D/YY", "MM-YYYY-DD", ""):
        with pytest.raises(ValueError):
            parse_format(bad)


def test_bad_dates_in_an_inferred_column_name_file_and_line(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("date,m_1\n2/13/1992,1\n2/14/1992,2\n2/31/1992,3\n2/16/1992,4\n")
    with pytest.raises(DataError) as e:
        load_dataset(f)
    assert str(e.value) == f"{f}:4: bad date '2/31/1992': there is no such day read as M/D/YYYY"
    f.write_text("date,m_1\n2/13/1992,1\n2/14/1992,2\n,3\n")
    with pytest.raises(DataError, match="missing date"):
        load_dataset(f)


def test_parquet_with_us_date_strings(tmp_path, base):
    f = tmp_path / "r.parquet"
    ids = np.stack([np.flatnonzero(y) + 1 for y in base.Y[:30]])
    cols = {"date": pa.array([_us(d) for d in base.dates[:30]])}
    cols.update({f"m_{k + 1}": pa.array(ids[:, k]) for k in range(5)})
    pq.write_table(pa.table(cols), f)
    ds = load_dataset(f)
    assert ds.detected["date_format"] == "M/D/YYYY"
    np.testing.assert_array_equal(ds.dates, base.dates[:30])


# ----------------------------------------------------------------------------- data.columns
def test_columns_mapping_reads_a_file_detection_cannot(tmp_path, real, base):
    f = tmp_path / "x.csv"
    body = real.read_text().split("\n")[1:]
    f.write_text("Draw Date,m_1,m_2,m_3,m_4,m_5,bonus\n" + "\n".join(line + ",7" for line in body))
    with pytest.raises(DataError) as e:
        load_dataset(f, events_per_day=5)  # six integer columns: which five?
    assert e.value.line == 1 and "data.columns" in str(e.value)
    cols = {"date": "Draw Date", "parts": [f"m_{k}" for k in range(1, 6)]}
    _same(load_dataset(f, events_per_day=5, columns=cols), base)
    r = invoke("data", "validate", f, "-K", "5", "--columns", "Draw Date:m_1,m_2,m_3,m_4,m_5")
    assert r.exit_code == 0, r.stderr
    cfg = load_config("logistic", overrides=["data.columns.date=Draw Date", "data.columns.parts=[m_1,m_2,m_3,m_4,m_5]"])
    assert cfg.data.columns is not None
    _same(load_dataset(f, events_per_day=5, columns=cfg.data.columns), base)


@pytest.mark.parametrize(
    "cols,fragment",
    [
        ({"date": "Day", "parts": ["m_1"]}, "data.columns: date column 'Day' is not a column of the header"),
        ({"date": "date", "parts": ["m_1", "m_9"]}, "part column 'm_9' is not a column"),
        ({"date": "date", "parts": ["m_1", "m_1"]}, "part column 'm_1' is listed twice"),
        ({"date": "date", "parts": ["date", "m_1"]}, "'date' is the date column"),
        ({"date": "date"}, "data.columns needs 'parts'"),
        ({"date": "date", "parts": ["m_1", "m_2"], "layout": "wide"}, "layout 'wide' must be draws or multihot"),
    ],
)
def test_columns_mapping_errors(tmp_path, cols, fragment):
    f = tmp_path / "c.csv"
    f.write_text("date,m_1,m_2\n1/13/2001,1,2\n")
    with pytest.raises(DataError) as e:
        load_dataset(f, columns=cols)
    assert fragment in str(e.value) and str(e.value).startswith(str(f))


def test_config_keys_are_validated(tmp_path):
    assert load_config("logistic", overrides=["data.date_format=D.M.YYYY"]).data.date_format == "D.M.YYYY"
    with pytest.raises(ConfigError, match="not a date format"):
        load_config("logistic", overrides=["data.date_format=DD/YY"])
    with pytest.raises(ConfigError, match="listed twice"):
        load_config("logistic", overrides=["data.columns.date=d", "data.columns.parts=[a,a]"])
    with pytest.raises(ConfigError):
        load_config("logistic", overrides=["data.columns.parts=[a,b]"])  # no date column named


def test_echo_off_never_shows_column_names_or_cells(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("root,secret_1,secret_2,weekday\n1/13/2001,1,2,Mon\n")
    with pytest.raises(DataError) as e:
        load_dataset(f, echo=False)
    assert "secret" not in str(e.value) and "weekday" not in str(e.value) and "Mon" not in str(e.value)
    f.write_text("date,s_1,s_2\n2/4/2001,1,2\n3/4/2001,1,2\n")
    with pytest.raises(DataError) as e:
        load_dataset(f, echo=False)
    assert "2/4/2001" not in str(e.value) and "--date-format" in str(e.value)


# ----------------------------------------------------------------------------- calendar
def test_calendar_words():
    day = np.datetime64("2001-01-01")
    assert calendar(day + np.arange(30)) == "daily"
    assert calendar(np.delete(day + np.arange(200), [50, 51, 120])) == "daily, with 2 gaps (3 missing days)"
    twice = day + np.array([k * 7 + o for k in range(20) for o in (0, 3)])
    assert calendar(twice) == "2 draws a week (Mon, Thu)"


# ----------------------------------------------------------------------------- it trains
@pytest.mark.slow
def test_real_layout_trains_with_no_edits_and_no_flags(tmp_path):
    from core.train.run import run_train

    data = _real(tmp_path, days=1300, weekly_years=2)
    over = [
        "train.epochs=2",
        "train.device=cpu",
        "split.test_days=200",
        "split.val_days=200",
        "split.min_train_days=100",
    ]
    run = run_train(load_config("logistic", overrides=over, data=str(data)), tmp_path / "runs")
    report = json.loads(run.path.joinpath("report.json").read_text())
    assert report["primary"] == "logistic"
    man = run.read_json("manifest.json")
    assert (man["data"]["first_date"], man["data"]["rows"], man["data"]["parts"]) == ("1992-02-04", 1300, 39)
    assert man["data"]["gaps"] > 300  # the four-draws-a-week years
    assert man["data"]["truth"] is not None  # the truth file is aligned by the same (irregular) dates


def test_multihot_by_shape_with_a_bad_cell_still_names_the_cell(tmp_path):
    f = tmp_path / "mh2.csv"
    rows = ["date,p1,p2,p3,p4,p5,p6"] + [f"1/{d}/2001,1,0,0,1,0,{int(d == 14)}" for d in range(13, 25)]
    rows[3] = "1/15/2001,1,0,2,1,0,0"
    f.write_text("\n".join(rows))
    with pytest.raises(DataError) as e:
        load_dataset(f)
    assert (e.value.line, e.value.problem) == (4, "value '2' in column p3 is not 0 or 1")


def test_the_config_keys_reach_a_run(tmp_path, real):
    """data.columns and data.date_format in a config are what a run reads with (not only `synapse data`)."""
    from core.train.run import run_baselines

    f = tmp_path / "x.csv"
    body = real.read_text().split("\n")[1:]
    f.write_text("Draw Date,m_1,m_2,m_3,m_4,m_5,bonus\n" + "\n".join(line + ",7" for line in body))
    split = ["split.test_days=150", "split.val_days=150", "split.min_train_days=100"]
    cols = ["data.columns.date=Draw Date", "data.columns.parts=[m_1,m_2,m_3,m_4,m_5]"]
    with pytest.raises(DataError, match="data.columns"):
        run_baselines(load_config("baselines", overrides=split, data=str(f)), tmp_path / "runs")
    run = run_baselines(load_config("baselines", overrides=[*split, *cols], data=str(f)), tmp_path / "runs")
    assert run.read_json("manifest.json")["data"]["parts"] == 39
    wrong = [*split, *cols, "data.date_format=D/M/YYYY"]
    with pytest.raises(DataError, match="no such day read as D/M/YYYY"):
        run_baselines(load_config("baselines", overrides=wrong, data=str(f)), tmp_path / "runs")
