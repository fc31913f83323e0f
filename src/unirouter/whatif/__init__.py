"""What-if: capture a day of traffic, replay it through other configurations, compare them
(issue 13, docs/replay.md)."""

from __future__ import annotations
