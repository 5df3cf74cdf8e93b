"""core.query: the one filter grammar of `runs ls --where` and the TUI."""

from datetime import datetime, timedelta, UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.query import (
    ALIASES,
    FIELDS,
    And,
    Compare,
    Not,
    Or,
    QueryError,
    Truthy,
    field_help,
    parse,
    resolve_field,
)

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def row(**kw):
    base = {
        "run_id": "20261122-034549-gru-448a",
        "name": "gru",
        "model": "gru",
        "job": "train",
        "status": "succeeded",
        "attempt": 1,
        "created": "2026-11-22T03:45:49.230253Z",
        "started": "2026-11-22T03:45:51.000000Z",
        "finished": "2026-11-22T04:00:00.000000Z",
        "duration_s": 849.0,
        "ece_after": 0.03,
        "ece_before": 0.08,
        "brier_skill": 0.02,
        "best_good_or_better": 0.69,
        "best_k": 27,
        "beats_reference": True,
        "verdict": "APPROVED",
        "test_touches": 1,
        "lift_capture": 0.8,
        "auc": 0.58,
    }
    base.update(kw)
    return base


def m(text, r=None, **kw):
    return parse(text).matches(r if r is not None else row(**kw), NOW)


# ------------------------------------------------------------------ the examples of the brief


def test_brief_examples():
    assert m("ece<0.05 and model=gru")
    assert not m("ece<0.05 and model=gru", ece_after=0.06)
    assert not m("ece<0.05 and model=gru", model="lstm")
    assert m("status=running or status=queued", status="queued")
    assert not m("status=running or status=queued")
    assert m("brier_skill>0 and not beats", beats_reference=False)
    assert not m("brier_skill>0 and not beats")
    assert m("name~gru", name="my-gru-big")
    assert not m("name~gru", name="lstm")


# ------------------------------------------------------------------ precedence and parentheses


def test_and_binds_tighter_than_or():
    q = parse("model=a or model=b and ece<0.01")
    assert isinstance(q.node, Or) and isinstance(q.node.right, And)
    assert q.matches(row(model="a", ece_after=0.5))  # a or (b and ...)
    assert not q.matches(row(model="b", ece_after=0.5))


def test_not_binds_tighter_than_and():
    q = parse("not beats and ece<0.05")
    assert isinstance(q.node, And) and isinstance(q.node.left, Not)
    assert q.matches(row(beats_reference=False))
    assert not q.matches(row(beats_reference=False, ece_after=0.1))


def test_parentheses_override_precedence():
    q = parse("(model=a or model=b) and ece<0.01")
    assert isinstance(q.node, And)
    assert not q.matches(row(model="a", ece_after=0.5))
    assert q.matches(row(model="b", ece_after=0.001))
    assert m("not (model=a or model=b)", model="c")
    assert not m("not (model=a or model=b)", model="b")
    assert m("((((ece<0.05))))")


def test_left_associative_chains_and_symbol_spellings():
    assert str(parse("k=1 or k=2 or k=3")) == "(best_k=1 or best_k=2) or best_k=3"
    assert parse("!beats && ece<0.1 || model=x") == parse("(not beats and ece<0.1) or model=x")
    assert parse("NOT beats AND ece<0.1") == parse("not beats and ece<0.1")


def test_not_not():
    assert m("not not beats")
    assert not m("not not not beats")


# ------------------------------------------------------------------ operators and types


@pytest.mark.parametrize(
    "op,value,expected",
    [
        ("=", "0.03", True),
        ("==", "0.03", True),
        ("!=", "0.03", False),
        ("<", "0.05", True),
        ("<", "0.03", False),
        ("<=", "0.03", True),
        (">", "0.03", False),
        (">", "0.01", True),
        (">=", "0.03", True),
        (">=", "0.04", False),
    ],
)
def test_every_numeric_operator(op, value, expected):
    assert m(f"ece{op}{value}") is expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("model=gru", True),
        ("model=GRU", True),
        ("model!=gru", False),
        ("model~r", True),
        ("model!~r", False),
        ("model~x", False),
        ("model!~x", True),
        ("model=gr*", True),
        ("model=l*", False),
        ("model=g?u", True),
        ("verdict=approved", True),
        ("run_id<20261123", True),
        ("run_id>20261123", False),
    ],
)
def test_text_operators(text, expected):
    assert m(text) is expected


def test_numbers_in_every_spelling():
    assert m("brier_skill>-0.5")
    assert m("brier_skill>-5e-1")
    assert m("ece<.05")
    assert m("k=27") and m("k=27.0") and m("k>=2.7e1")


def test_booleans_every_way():
    for t in ("beats", "beats=true", "beats=yes", "beats=1", "beats!=false", "beats_reference==TRUE"):
        assert m(t), t
    for t in ("not beats", "beats=false", "beats=no", "beats=0", "beats!=true"):
        assert not m(t), t


def test_quoted_strings():
    assert m('name="my gru"', name="my gru")
    with pytest.raises(QueryError, match="position 10"):  # no SQL-style '' escape: use \'
        parse("name='it''s'")
    assert m(r"name='it\'s'", name="it's")
    assert m(r'name="say \"hi\""', name='say "hi"')
    assert m("model='and'", model="and")  # keywords are values when quoted
    assert m('name~"-gru"', name="x-gru")


def test_missing_values_satisfy_only_negations():
    r = row(ece_after=None, model=None)
    assert not m("ece<1", r) and not m("ece>=0", r) and not m("ece=0", r)
    assert m("ece!=0", r)
    assert not m("model=gru", r) and not m("model~g", r)
    assert m("model!=gru", r) and m("model!~g", r)
    assert m("ece=null", r) and not m("ece!=null", r)
    assert m("ece!=none") and not m("ece=NULL")
    assert not m("not ece=null", r)
    assert not m("beats", row(beats_reference=None))


def test_nan_is_missing():
    assert not m("ece<1", ece_after=float("nan"))


def test_times_compare_as_dates_and_prefixes():
    assert m("created>=2026-11-22")
    assert m("created<=2026-11-22")  # the whole day
    assert not m("created>2026-11-22")  # after that day
    assert not m("created<2026-11-22")
    assert m("created=2026-11-22") and m("created=2026-11") and not m("created=2026-11-21")
    assert m("created>2026-11-22T03:00") and not m("created>2026-11-22T04:00")
    assert m('created<"2026-11-22 04:00"')
    with pytest.raises(QueryError, match="is a time"):  # field-to-field comparisons are not a thing
        parse("finished>started")


def test_durations_take_units():
    # created 03:45:49, NOW 12:00 -> age about 8.2 h
    assert m("age>8h") and m("age<9h") and m("age<1d") and not m("age<30m")
    assert m("age>480m") and m("age<1w") and m("age>29000") and m("age<29700s")
    assert m("duration>14m") and m("duration<15min") and m("took>=849")


def test_age_uses_now():
    q = parse("age<1h")
    r = row(created=(NOW - timedelta(minutes=10)).isoformat())
    assert q.matches(r, NOW)
    assert not q.matches(r, NOW + timedelta(hours=2))


# ------------------------------------------------------------------ fields and aliases


@pytest.mark.parametrize(
    "alias,name",
    [
        ("ece", "ece_after"),
        ("model", "model"),
        ("kind", "model"),
        ("good", "best_good_or_better"),
        ("k", "best_k"),
        ("beats", "beats_reference"),
        ("lift", "lift_capture"),
        ("bss", "brier_skill"),
        ("id", "run_id"),
        ("touches", "test_touches"),
        ("duration", "duration_s"),
        ("ECE", "ece_after"),
    ],
)
def test_aliases(alias, name):
    assert resolve_field(alias).name == name


def test_every_field_and_alias_resolves_and_is_documented():
    for name in FIELDS:
        assert resolve_field(name).name == name
    for alias, name in ALIASES.items():
        assert resolve_field(alias).name == name
    assert {f["name"] for f in field_help()} == set(FIELDS)
    assert set(ALIASES).isdisjoint(FIELDS)


def test_query_fields_lists_what_it_reads():
    assert parse("ece<1 and (model=a or not beats)").fields == {"ece_after", "model", "beats_reference"}


# ------------------------------------------------------------------ errors with positions


def err(text):
    with pytest.raises(QueryError) as e:
        parse(text, label="--where")
    return e.value


def test_error_of_the_brief():
    e = err("ece<<0.05")
    assert str(e) == "--where 'ece<<0.05': position 5: expected a value"
    assert e.position == 5 and e.expected == "a value"
    assert isinstance(e, InputError)


def test_unknown_field_did_you_mean():
    e = err("eec<0.05")
    assert e.position == 1 and "unknown field 'eec'" in str(e) and "did you mean ece" in str(e)
    e = err("ece<0.05 and modle=gru")
    assert e.position == 14 and "did you mean model" in str(e)
    e = err("zzzzz=1")
    assert "fields: run_id" in str(e)


@pytest.mark.parametrize(
    "text,pos,needle",
    [
        ("", 1, "empty filter"),
        ("   ", 4, "empty filter"),
        ("ece", 4, "expected an operator"),
        ("ece 0.05", 5, "expected an operator"),
        ("ece<", 5, "expected a value"),
        ("ece<0.05 and", 13, "expected a field name, got the end"),
        ("ece<0.05 or or k=1", 13, "expected a field name, got 'or'"),
        ("(ece<0.05", 10, "expected ')' to close the '(' at position 1"),
        ("ece<0.05)", 9, "unmatched ')'"),
        ("()", 2, "expected a condition"),
        ("ece<0.05 k=1", 10, "expected and, or or the end"),
        ("ece<abc", 5, "ece_after is a number"),
        ("ece~0.1", 5, "works on text fields"),
        ("beats<1", 7, "beats_reference is yes/no"),
        ("beats=maybe", 7, "expected true or false"),
        ("age<2 hours", 7, "expected and, or or the end"),
        ("age<soon", 5, "is a duration"),
        ("created>yesterday", 9, "is a time"),
        ("status=runing", 8, "did you mean running"),
        ("model='gru", 7, "unterminated string"),
        ("ece<0.05 & k=1", 10, "write and"),
        ("ece<null", 5, "null only works with = and !="),
        ("model=and", 7, "expected a value"),
    ],
)
def test_errors_name_position_and_expectation(text, pos, needle):
    e = err(text)
    assert e.position == pos, str(e)
    assert needle in str(e), str(e)
    assert str(e).startswith(f"--where {text!r}: position {pos}: ")


def test_non_text_is_refused():
    with pytest.raises(InputError):
        parse(None)  # type: ignore[arg-type]


def test_no_eval_ever():
    # Python syntax is just an unknown field or a bad token, never executed.
    for text in ("__import__('os').system('true')", "1==1", "ece<0.05;rm"):
        with pytest.raises(QueryError):
            parse(text)


# ------------------------------------------------------------------ canonical text round trip

_fields = st.sampled_from(sorted(set(FIELDS) | set(ALIASES)))


@st.composite
def _comparison(draw):
    name = draw(_fields)
    f = resolve_field(name)
    if f.type == "yes/no":
        return draw(st.sampled_from([name, f"{name}=true", f"{name}!=no", f"not {name}"]))
    if f.type == "number":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        v = draw(st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)))
        return f"{name}{op}{v!r}" if isinstance(v, float) else f"{name}{op}{v}"
    if f.type == "duration":
        op = draw(st.sampled_from(["<", ">=", "="]))
        return f"{name}{op}{draw(st.integers(0, 999))}{draw(st.sampled_from(['', 's', 'm', 'h', 'd', 'w']))}"
    if f.type == "time":
        return f"{name}{draw(st.sampled_from(['<', '>=', '=']))}2026-{draw(st.integers(1, 12)):02d}-01"
    op = draw(st.sampled_from(["=", "!=", "~", "!~"]))
    if f.choices:
        return f"{name}{op}{draw(st.sampled_from(f.choices))}"
    text = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=8))
    return f"{name}{op}" + '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_queries = st.recursive(
    _comparison(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or ", " && ", " || "]), inner).map(lambda t: "".join(t)),
        inner.map(lambda q: f"not ({q})"),
        inner.map(lambda q: f"({q})"),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(_queries)
def test_canonical_text_round_trips(text):
    q = parse(text)
    again = parse(str(q))
    assert again.node == q.node
    assert str(again) == str(q)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_query_error(text):
    try:
        q = parse(text)
    except QueryError as e:
        assert 1 <= e.position <= len(text) + 1
        return
    q.matches(row(), NOW)  # never crashes on a real row


def test_ast_nodes_render():
    assert str(Compare("model", "=", "gru")) == 'model="gru"'
    assert str(Truthy("beats_reference")) == "beats_reference"
    assert (
        str(Not(And(Truthy("beats_reference"), Compare("best_k", ">", 20.0)))) == "not (beats_reference and best_k>20)"
    )
