"""SQLite persistence: one repository per aggregate, held together for injection."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from storage.chats import ChatRepository
from storage.db import Database
from storage.deposits import DepositRepository
from storage.groups import GroupRepository
from storage.operations import OperationRepository
from storage.orders import OrderRepository
from storage.reminders import ReminderRepository
from storage.users import UserRepository


@dataclass(frozen=True, slots=True)
class Repositories:
    chats: ChatRepository
    users: UserRepository
    orders: OrderRepository
    operations: OperationRepository
    reminders: ReminderRepository
    deposits: DepositRepository
    groups: GroupRepository

    @classmethod
    def build(cls, db: Database, clock: Clock) -> Repositories:
        return cls(
            chats=ChatRepository(db, clock),
            users=UserRepository(db, clock),
            orders=OrderRepository(db, clock),
            operations=OperationRepository(db, clock),
            reminders=ReminderRepository(db, clock),
            deposits=DepositRepository(db, clock),
            groups=GroupRepository(db, clock),
        )


__all__ = ["Database", "Repositories"]
