"""The one filter grammar of runs, for `synapse runs ls --where` and the dashboard.

fields  the fields a filter may name, their types, aliases and did-you-mean
nodes   what a filter parses into, and how a node matches a row or becomes SQL
parser  the tokenizer and the recursive-descent parser
filter  the API: `parse(text) -> Query`

parse("ece<0.05 and model=gru").matches(row)
"""

from core.query.fields import ALIASES, FIELDS, QueryError, field_help, resolve_field, value_of
from core.query.filter import Query, parse
from core.query.nodes import And, Compare, Not, Or, Truthy

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
    "field_help",
    "parse",
    "resolve_field",
    "value_of",
]
