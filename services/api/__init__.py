"""The read API (Litestar): SQL over the read models, JSON via msgspec."""
