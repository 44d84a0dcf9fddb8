"""Presenters: turn service results into platform-neutral replies."""
