"""Typed records that carry a call, a recommendation or an audit entry between layers.

Services build them; repositories write and read them; the API renders them. Every field
is required and keyword-only, so a field added to a record fails `mypy --strict` at each
place that builds one (ARCHITECTURE.md, "Add a call field").
"""
