"""Shared state of the WeChat channel when Redis is not configured: every Rasa replica sees the same rows."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Text, func

from bot.db import Base


class WeChatSeen(Base):
    """One row per accepted push (MsgId, or sender+time for events), so a retry is never processed twice."""

    __tablename__ = "wechat_seen"
    key = Column(String(191), primary_key=True)
    expires_at = Column(BigInteger, nullable=False, index=True)


class WeChatToken(Base):
    """The access token, shared so that replicas do not invalidate each other's tokens by refetching."""

    __tablename__ = "wechat_token"
    appid = Column(String(64), primary_key=True)
    access_token = Column(String(1024), nullable=False)
    expires_at = Column(BigInteger, nullable=False)


class WeChatChoice(Base):
    """The numbered quick replies last shown to a user ("回复 1 …"), to map a bare number back to its payload."""

    __tablename__ = "wechat_choices"
    openid = Column(String(128), primary_key=True)
    payloads = Column(Text, nullable=False)  # JSON list, index 0 = choice 1
    expires_at = Column(BigInteger, nullable=False)


class WeChatUndelivered(Base):
    """A bot message the customer-service API refused or could not take; kept for staff and a later resend."""

    __tablename__ = "wechat_undelivered"
    id = Column(Integer, primary_key=True, autoincrement=True)
    openid = Column(String(128), nullable=False, index=True)
    body = Column(Text, nullable=False)  # the API request body (JSON), personal numbers masked
    errcode = Column(Integer, nullable=True)
    reason = Column(String(255), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    delivered_at = Column(DateTime(timezone=True), nullable=True)
