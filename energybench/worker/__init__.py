"""The worker: one run on a compute node, from ``spec.json`` to shards, markers and ``run.json``.

``entry`` (main: set up, meter, train, record), ``train`` (the epoch loop),
``tasks`` (model, loss and data of each paradigm), ``data`` (datasets in their
upstream layouts, with ``cache``), ``models``, ``checkpoint``, ``markers``
(started/heartbeat/done/failed), ``signals`` (stop on SLURM's USR2) and
``rules`` (the seam for stopping rules from above, e.g. the energy budget).

Public seams for the layers above: :mod:`.data` and :mod:`.models` (the
estimators use them); the worker itself imports no layer above it.
"""
