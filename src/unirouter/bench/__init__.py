"""The benchmarks behind ``unirouter bench engine|sim|server`` (figures only, never a pass or fail).

:mod:`~unirouter.bench.engine` drives the engine in-process, :mod:`~unirouter.bench.sim` runs one
M/M/c model through unirouter, Ciw and SimPy, :mod:`~unirouter.bench.server` measures a real server
over loopback. The scripts under ``bench/`` of a checkout call the same functions.
"""

from __future__ import annotations
