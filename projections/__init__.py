"""Read models derived from the event log: inline ones, async ones with checkpoints, and their rebuild."""

from projections.registry import ASYNC, INLINE, TABLES, project_inline

__all__ = ["ASYNC", "INLINE", "TABLES", "project_inline"]
