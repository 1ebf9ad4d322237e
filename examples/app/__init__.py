"""Shop: the reference project of the sqlalchemy-postgres skill.

Layers, from the outside in: api (FastAPI routes) -> services (one transaction per use case,
commit here) -> repositories (queries, never commit) -> models (SQLAlchemy) and schemas (Pydantic).
"""
