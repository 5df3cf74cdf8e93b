"""Rules with evidence: mine, test and replicate the rules daily-history users write
(follow-within, inhibition, same-day co-occurrence, long absence, calendar), and read and
write them as an editable rulebook (docs/ARCHITECTURE.md, "Rules").

Pure numpy/scipy; no torch. Layout:
  stats.py     Wilson intervals, one-sided exact p-values, Benjamini-Hochberg/Yekutieli
  kinds.py     every candidate of every kind counted on one window, vectorised
  config.py    the miner's settings (`rules:`) and configs/rules/mine.yaml loading
  mine.py      training-window tests, FDR, validation-window replication
  rulebook.py  Rule, rulebook.yaml / rulebook.md, user rulebooks with file:line errors
"""

from core.rules.config import DEFAULT_RULES_CONFIG, RulesSettings, load_rules_config
from core.rules.kinds import KINDS
from core.rules.mine import MineResult, mine, window_table
from core.rules.rulebook import (
    FORMAT,
    Rule,
    Rulebook,
    RulebookError,
    dump_rulebook,
    load_rulebook,
    markdown,
    parse_rulebook,
)
from core.rules.stats import fdr_adjust, wilson

__all__ = [
    "KINDS",
    "FORMAT",
    "Rule",
    "Rulebook",
    "RulebookError",
    "RulesSettings",
    "DEFAULT_RULES_CONFIG",
    "MineResult",
    "mine",
    "window_table",
    "load_rules_config",
    "dump_rulebook",
    "load_rulebook",
    "parse_rulebook",
    "markdown",
    "fdr_adjust",
    "wilson",
]
