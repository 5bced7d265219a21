"""Energy-aware successive halving over a grid (the config's ``search:`` section).

Pure planning and scoring: :mod:`.halving` (the rungs and who survives) and
:mod:`.objectives` (the scores: forecast energy to the threshold, SM2, Zeus,
accuracy alone). File I/O at the edge: :mod:`.rungs` (each run's rung reports,
the decisions under ``DIR/search/``, the gate every worker passes before it
trains). :mod:`.evaluate` runs the strategies on the synthetic simulator.
The worker imports none of this: :mod:`energybench.launch` passes the gate in.
"""
