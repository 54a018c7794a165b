"""Periodic jobs: APScheduler wiring, the per-tenant jobs and the database lock."""
