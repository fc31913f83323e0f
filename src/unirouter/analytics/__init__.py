"""Historical analytics: SPEC §8 KPIs of a server's log per interval (``GET /v1/reports/…``,
``unirouter report``), folded incrementally as the log grows."""

from __future__ import annotations
