"""One run: loss curves, tier rates against the baselines, reliability before and after
calibration, the headline numbers and verdict; per-part AUC, tomorrow's pool, the config,
the log and the artifacts in tabs. Live while the run goes on.

Built from widgets: each tab is one widget in one file that owns its state and its CSS
(`DEFAULT_CSS`, scoped to itself), is given the run view as an attribute (`pane.view = view`,
attributes down) and posts what the screen must act on (messages up). A pane draws a view
only while it is on screen (a view set while its tab is hidden is drawn when the tab shows)
and only when the part it shows changed, so a tab switch or a re-read costs nothing in tabs
nobody looks at; slow work (scoring the pool, highlighting the config) runs in its workers.

Reading: `core.service.runs.run_view` in a thread worker; the first view is built by the
follower from the events it has just parsed, so a long log is not parsed by two threads at
once on opening. Following (`RunFollower`, follower.py): a thread worker polls the run's
events.jsonl (EventReader.read_new, every POLL_S) and posts `RunScreen.Changed`, a message
that replaces the one still queued before it (a flood of epochs becomes one). New epochs
travel in the message as the loss curves (`loss_series` of every epoch the follower has
read, built in its thread), and the plot is redrawn at most every MIN_REDRAW_S; any other
event (status, evaluation, log) asks for a re-read of the whole view, at most every
MIN_REREAD_S and one at a time. So an epoch every 50 ms neither floods the event loop nor
lags, and a 10,000-epoch history is not re-parsed for every epoch. While the run is active
the view is also re-read every ACTIVE_REREAD_S, so a worker that died shows as lost (and the
Log tab's worker.log tail, which no event announces, moves on).
`core.service.predict.predict` (torch) runs only when the Pool tab is opened on a succeeded
run, in a worker.

Keys: l t b (a plot; t again: the next tier), z (that plot alone), [ ] (EMA smoothing),
L (log y), p (per-part AUC, s sorts), o (tomorrow's pool, e edits the target), 4 (config),
g (log and artifacts, a or enter opens one), 1-5 (the tabs), x (cancel, asks first),
esc (back).

Modules, imports going up the list only:

    glyphs       the glyphs the screen writes and their ASCII forms
    reading      read_run, predict_pool: what the workers read through core.service
    summary      the breadcrumbs, headline, summary, scorers table and legends (pure)
    panes        the words of the Parts, Log and Pool tabs (pure)
    pane         RunPane: the tabs' base widget (`view`, drawn when shown and changed)
    overview     OverviewPane: loss, tiers, reliability and summary in a grid; zoom
    parts_pane   PartsPane: per-part AUC and AP, sortable
    pool_pane    PoolPane: the target box, the scoring worker, tomorrow's pool
    config_pane  ConfigPane: config.yaml, highlighted in a worker
    log_pane     LogPane: the log tail and the artifacts; posts LogPane.OpenArtifact
    follower     RunFollower: the follower thread, the throttled redraws and re-reads
    screen       RunScreen: composes the tabs, keeps the view, the keys, cancel, and
                 opens an artifact; its stylesheet (screen-level layout only) is run.tcss
"""

from synapse_tui.screens.run.reading import predict_pool, read_run
from synapse_tui.screens.run.screen import RunScreen

__all__ = ["RunScreen", "predict_pool", "read_run"]
