"""Turning invoice events into read-model rows: the pure fold and its SQL store."""
