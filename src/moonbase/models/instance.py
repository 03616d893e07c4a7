from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class Instance(PublicResource, Base):
    """One server of a branch: ordinal 0 is the primary, 1..N are replicas.

    The port is reserved here once, so a restart finds every server where it was.
    """

    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("branch_id", "ordinal"), UniqueConstraint("port"))

    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    port: Mapped[int] = mapped_column(Integer)
    #: observed: ``starting``, ``running``, ``streaming``, ``stopped``
    observed: Mapped[str] = mapped_column(String(32), default="new")
