"""HTTP: parse, authenticate, authorise, and map errors to problem+json."""
