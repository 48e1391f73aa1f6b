"""In-memory implementations of the ports for tests: they enforce the rules of the real services."""
