"""Use cases: ingest, fire due deadlines, flush the outbox, send the digest.

They take an `App` (config, database, mailbox, clock, renderer, calendar),
run the pure domain, and turn its effects into rows: cases, timeline events,
deadlines and outbox messages, all in one transaction per decision.
"""
