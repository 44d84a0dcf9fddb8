"""Scheduling: APScheduler wiring, jobs that take ids only, the term-time calendar, the outbox relay."""
