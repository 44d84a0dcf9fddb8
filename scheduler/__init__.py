"""Scheduling: APScheduler wiring, id-only jobs, the term-time calendar, the outbox relay."""
