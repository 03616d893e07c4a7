from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class Organization(PublicResource, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    billing_email: Mapped[str | None] = mapped_column(String(255), default=None)
    plan: Mapped[str] = mapped_column(String(32), default="self_hosted")
    default_region: Mapped[str | None] = mapped_column(String(64), default=None)
