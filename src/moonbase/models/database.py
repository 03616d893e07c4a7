from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class Database(PublicResource, Base):
    """Desired settings of one database. Its servers belong to its branches."""

    __tablename__ = "databases"
    __table_args__ = (
        # names are free again once a database is deleted (its teardown may still be running)
        Index(
            "uq_databases_org_name_live",
            "organization_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    #: the database (schema) inside the servers: the name at creation, kept across renames
    schema_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(64))
    cluster_size: Mapped[str] = mapped_column(String(32))
    replicas: Mapped[int] = mapped_column(Integer, default=0)
    major_version: Mapped[str] = mapped_column(String(16))
    minimum_storage_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    maximum_storage_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    default_branch: Mapped[str] = mapped_column(String(64), default="main")
    require_approval_for_deploy: Mapped[bool] = mapped_column(Boolean, default=False)
    restrict_branch_region: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_data_branching: Mapped[bool] = mapped_column(Boolean, default=False)
    foreign_keys_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    automatic_migrations: Mapped[bool | None] = mapped_column(Boolean, default=None)
    migration_framework: Mapped[str | None] = mapped_column(String(64), default=None)
    migration_table_name: Mapped[str | None] = mapped_column(String(64), default=None)
    insights_raw_queries: Mapped[bool] = mapped_column(Boolean, default=False)
    production_branch_web_console: Mapped[bool] = mapped_column(Boolean, default=False)
    deletion_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    schema_last_updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
