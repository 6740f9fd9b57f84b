"""Plain-Python domain logic of the sandbox: no Flask import below this package."""
