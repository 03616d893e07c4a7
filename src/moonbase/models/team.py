"""Teams of an organization and the members (users) in them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class Team(PublicResource, Base):
    """A named group of the organization's members; addressed by ``slug`` in URLs."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    #: who created it: a service token or OAuth token id, and which of the two
    creator_id: Mapped[str | None] = mapped_column(String(12), default=None)
    creator_type: Mapped[str] = mapped_column(String(32), default="ServiceToken")


class TeamMembership(PublicResource, Base):
    """A user in a team. The user must be a member of the team's organization."""

    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: who added the user, as for ``Team.creator_id``
    actor_id: Mapped[str | None] = mapped_column(String(12), default=None)
    actor_type: Mapped[str] = mapped_column(String(32), default="ServiceToken")
