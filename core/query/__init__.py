"""The one filter grammar of runs, for `synapse runs ls --where` and the dashboard.

fields  the fields a filter may name, their types, aliases and did-you-mean
nodes   what a filter parses into, and how a node matches a row (a dotted field: a config key)
parser  the tokenizer and the recursive-descent parser
filter  the API: `parse(text) -> Query`

parse("ece<0.05 and model=gru").matches(row)
parse("train.lr<0.01 and model.hidden=64")   # a dotted name is a key of the run's config
"""

from core.query.fields import (
    ALIASES,
    FIELDS,
    QueryError,
    config_field,
    config_of,
    field_help,
    is_config_key,
    resolve_field,
    value_of,
)
from core.query.filter import Query, parse
from core.query.nodes import And, Compare, Not, Or, Truthy
from core.query.text import filter_error, is_expression, matches_text, row_filter

__all__ = [
    "ALIASES",
    "FIELDS",
    "And",
    "Compare",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Truthy",
    "config_field",
    "config_of",
    "field_help",
    "is_config_key",
    "parse",
    "resolve_field",
    "value_of",
]
__all__ += ["filter_error", "is_expression", "matches_text", "row_filter"]  # core.query.text
