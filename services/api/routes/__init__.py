"""Route handlers, one module per API family."""
