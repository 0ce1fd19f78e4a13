"""SQLAlchemy tables. Times are integer epoch milliseconds, exact on every database."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
)
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
    __table_args__ = (
        Index("ix_timers_status_ends_at", "status", "ends_at"),
        Index("ix_timers_warn_due_at", "warn_due_at"),
        Index("ix_timers_danger_due_at", "danger_due_at"),
    )

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
    # When a running timer crosses each threshold (null: no crossing armed). Claiming a
    # crossing sets it back to null in one guarded UPDATE, so it fires once in all.
    warn_due_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    danger_due_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    position: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    room: Mapped[Room] = relationship(back_populates="timers")


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(500))  # comma-separated event names
    secret: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    """One webhook delivery (the outbox). No foreign key: `room.deleted` outlives its
    webhook, so the target and secret are copied here when the delivery is recorded."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(36), index=True)
    room_id: Mapped[str] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Claimed by a worker until then; a worker that died loses its claim when it passes.
    lease_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class IdempotencyKey(Base):
    """The first answer to an owner's `Idempotency-Key` (status null: still running)."""

    __tablename__ = "idempotency_keys"

    owner_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
