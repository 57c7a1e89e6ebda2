"""
Storage adapters: SQLAlchemy tables, repositories, the unit of work and Alembic migrations.
"""
