"""SQLAlchemy tables. Times are integer epoch milliseconds, exact on every database."""

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    share_token: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # The room message shown on viewer screens; blackout hides the timers there.
    message_text: Mapped[str] = mapped_column(String(200), default="", server_default="")
    message_visible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    message_blackout: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    message_updated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    timers: Mapped[list["Timer"]] = relationship(
        back_populates="room",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Timer.position, Timer.created_at, Timer.id)",
    )


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_status_ends_at", "status", "ends_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    remaining_ms: Mapped[int] = mapped_column(BigInteger)
    ends_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Remaining time at which a running timer enters its warning and danger phases.
    warn_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    danger_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    position: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    room: Mapped[Room] = relationship(back_populates="timers")
