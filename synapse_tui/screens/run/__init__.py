"""One run: loss curves, tier rates against the baselines, reliability before and after
calibration, the headline numbers and verdict; per-part AUC, tomorrow's pool, the config,
the log and the artifacts in tabs. Live while the run goes on.

Reading: `core.service.runs.run_view` in a thread worker; the first view is built by the
follower from the events it has just parsed, so a long log is not parsed by two threads
at once on opening. Following: a second thread worker polls the run's events.jsonl (EventReader.read_new, every POLL_S) and posts
`RunScreen.Changed`, a message that replaces the one still queued before it (a flood of
epochs becomes one). New epochs travel in the message as the loss curves
(`loss_series` of every epoch the follower has read, built in its thread), and the plot
is redrawn at most every MIN_REDRAW_S; any other event (status, evaluation, log) asks
for a re-read of the whole view, at most every MIN_REREAD_S and one at a time. So an
epoch every 50 ms neither floods the event loop nor lags, and a 10,000-epoch history is
not re-parsed (three passes over events.jsonl in run_view, ~100 ms holding the GIL) for
every epoch. While the run is active the view is also re-read every ACTIVE_REREAD_S, so a
worker that died shows as lost (and the Log tab's worker.log tail, which no event
announces, moves on). `core.service.predict.predict` (torch) runs only when the Pool tab
is opened on a succeeded run, in a worker.

Keys: l t r (a plot; t again: the next tier), z (that plot alone), [ ] (EMA smoothing),
L (log y), p (per-part AUC, s sorts), o (tomorrow's pool, e edits the target), c (config),
g (log and artifacts, a or enter opens one), x (cancel, asks first), esc (back).

Modules, imports going up the list only:

    glyphs   the glyphs the screen writes and their ASCII forms
    reading  read_run, predict_pool: what the workers read through core.service
    summary  the breadcrumbs, headline, summary, scorers table and legends (pure)
    panes    the Parts, Config, Log and Pool tabs filled from what was read
    live     LiveRun: the follower, the throttled redraws and re-reads (POLL_S and co.)
    keys     RunKeys: what the keys do, cancel behind a y/n question
    screen   RunScreen (LiveRun + RunKeys + Screen): the layout and the @on handlers;
             its stylesheet is run.tcss beside it
"""

from synapse_tui.screens.run.reading import predict_pool, read_run
from synapse_tui.screens.run.screen import RunScreen

__all__ = ["RunScreen", "predict_pool", "read_run"]
