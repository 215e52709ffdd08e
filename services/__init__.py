"""Processes: the projection worker, the read API, the CLI, and what they share."""
