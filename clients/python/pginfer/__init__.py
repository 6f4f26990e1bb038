"""Python helpers for pg_infer, the PostgreSQL extension for neural-network
inference: typed SQLAlchemy functions (pginfer.sqlalchemy), Django
expressions (pginfer.django), numpy parameters for psycopg and asyncpg
(pginfer.psycopg, pginfer.asyncpg), and model uploads with a progress
bar (pginfer.upload)."""
from pginfer.upload import upload_model

__all__ = ["upload_model"]
__version__ = "0.1.0"
