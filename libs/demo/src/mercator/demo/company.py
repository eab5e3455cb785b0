"""The demo company: its people, clients, products and the way its sales go, and the small helpers of dates."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mercator.demo.client import Api

DEPARTMENTS = ("Продажи — Москва", "Продажи — Регионы", "Корпоративные клиенты")
FIRST = (
    "Анна",
    "Борис",
    "Вера",
    "Глеб",
    "Дарья",
    "Егор",
    "Жанна",
    "Илья",
    "Ксения",
    "Лев",
    "Мария",
    "Никита",
    "Ольга",
    "Павел",
    "Роман",
)
LAST = ("Петров", "Смирнов", "Кузнецов", "Попов", "Волков", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов")
COMPANY_WORDS = (
    "Альфа",
    "Вектор",
    "Гранит",
    "Дельта",
    "Заря",
    "Импульс",
    "Квант",
    "Лидер",
    "Меридиан",
    "Нева",
    "Омега",
    "Прогресс",
    "Ресурс",
    "Сигма",
    "Техно",
    "Урал",
    "Феникс",
    "Штиль",
    "Элемент",
    "Янтарь",
)
COMPANY_KINDS = ("Завод", "Трейд", "Строй", "Маш", "Сервис", "Пром", "Логистик", "Снаб")
PRODUCTS = {  # group: [(code, name, list price)]
    "Станки": [
        ("ST-100", "Токарный станок ТС-100", 1_850_000),
        ("ST-220", "Фрезерный станок ФС-220", 2_400_000),
        ("ST-310", "Ленточнопильный станок", 640_000),
    ],
    "Инструмент": [
        ("IN-01", "Набор резцов", 45_000),
        ("IN-02", "Измерительный комплект", 120_000),
        ("IN-03", "Патрон токарный", 68_000),
    ],
    "Сервис": [
        ("SV-01", "Пусконаладка", 150_000),
        ("SV-02", "Годовое обслуживание", 380_000),
        ("SV-03", "Обучение операторов", 90_000),
    ],
}
OPEN_PATH = ("interest", "needs", "demo", "tech_proposal", "commercial_proposal")
# The share of deals that go on from each stage, for a manager of average skill: 70% of first contacts get to
# needs, ... half of the commercial proposals are signed; about one in ten first contacts is won, as in the article.
GO_ON = {"interest": 0.70, "needs": 0.686, "demo": 0.667, "tech_proposal": 0.625, "commercial_proposal": 0.50}
# Days a deal stands at a stage before it moves on (at average skill), low and high.
STAGE_DAYS = {
    "interest": (2, 10),
    "needs": (4, 18),
    "demo": (3, 14),
    "tech_proposal": (5, 20),
    "commercial_proposal": (5, 25),
}
# Why deals are lost, by the stage they stop at (names of the default dictionary; weights).
LOST_REASONS = {
    "interest": (("Клиент пропал", 4), ("Нет бюджета", 3), ("Решение не принято", 3)),
    "needs": (("Нет бюджета", 4), ("Продукт не подходит", 4), ("Клиент пропал", 2)),
    "demo": (("Продукт не подходит", 4), ("Конкурент", 4), ("Решение не принято", 2)),
    "tech_proposal": (("Конкурент", 5), ("Сроки", 3), ("Продукт не подходит", 2)),
    "commercial_proposal": (("Цена", 6), ("Конкурент", 3), ("Сроки", 1)),
}
# Deals opened per calendar month, relative: the New Year holidays and the summer are quiet, the end of the year
# (budgets spent before they lapse) and March busy.
SEASON = {1: 0.5, 2: 0.9, 3: 1.15, 4: 1.0, 5: 0.8, 6: 0.9, 7: 0.7, 8: 0.7, 9: 1.1, 10: 1.2, 11: 1.3, 12: 1.25}
MONTHS = 24
# How clients pay, cycled over the sales in the order they are made so a small demo shows every kind too:
# on time, late (after the due date), part (half, the rest owed), never.
PAYERS = (
    "on_time",
    "never",
    "late",
    "on_time",
    "part",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "part",
    "on_time",
    "on_time",
    "late",
    "on_time",
    "never",
    "on_time",
)
HISTORY_KINDS = ("call", "call", "email", "meeting", "letter", "demo", "fax")


@dataclass
class Manager:
    name: str
    email: str
    password: str
    department_id: str
    user_id: str = ""
    token: str = ""
    skill: float = 1.0  # above 1: more deals go on at each stage, and faster


@dataclass
class Company:
    """The demo's picture: a manager's share of the base."""

    manager: Manager
    cards: list[dict] = field(default_factory=list)


@dataclass
class Sale:
    """A deal that reached the contract: what is left once its invoice is issued (in date order, over all)."""

    api: Api
    rnd: random.Random
    deal: dict
    card: dict
    invoice_id: str
    issue_on: date
    due_in_days: int
    product: str
    quantity: int
    payer: str = "on_time"


def person_name(rnd: random.Random) -> str:
    return f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def later(rnd: random.Random, moment: datetime, low: float, high: float, skill: float = 1.0) -> datetime:
    """Some working days after `moment` (a quicker manager takes less), at an office hour in Moscow."""
    days = rnd.uniform(low, high) / skill**0.5
    then = moment + timedelta(days=days)
    hour = rnd.randint(6, 14)  # 09:00 to 17:59 in Moscow (UTC+3)
    then = then.replace(hour=hour, minute=rnd.randint(0, 59), second=rnd.randint(0, 59), microsecond=0)
    return then if then > moment else moment + timedelta(minutes=rnd.randint(5, 90))
