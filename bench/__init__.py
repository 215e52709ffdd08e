"""Benchmarks of the invoice summary service: ingest, replay, read,
freshness and scaling against the local stack (``make bench``), with the
baselines they are compared to. Not part of the product."""
