"""The templates a fresh installation starts with (seeded by the first migration; edited through the API
like any other). Names are what events and the API ask for: ProposalSent's `documents` name document
templates ("proposal", "price_list", "product_sheet", "invoice")."""

# ruff: noqa: E501 - a template's HTML rows stay one line each, as a document's table row reads.

from __future__ import annotations

_LINES_TABLE = """\
<table width="100%">
<thead><tr><th width="6%">№</th><th width="40%">Наименование</th><th width="12%">Кол-во</th><th width="20%">Цена</th><th width="22%">Сумма</th></tr></thead>
<tbody>
{% for l in lines %}
<tr><td>{{ loop.index }}</td><td>{{ l.name }}{% if l.discount_percent and l.discount_percent|float > 0 %} (скидка {{ l.discount_percent|qty }}%){% endif %}</td><td>{{ l.quantity|qty }} {{ l.unit }}</td><td align="right">{{ l.unit_price|money }}</td><td align="right">{{ l.total|money }}</td></tr>
{% endfor %}
</tbody>
</table>
"""

PROPOSAL = (
    """\
<h1>Коммерческое предложение</h1>
<p>Кому: <b>{{ company.legal_name or company.name }}</b>{% if company.tax_id %}, ИНН {{ company.tax_id }}{% endif %}<br>
{% if person %}Вниманию: {{ person.name }}{% if person.position %}, {{ person.position }}{% endif %}<br>{% endif %}
Дата: {{ today|date }}</p>
<p>{% if person %}Уважаемый(ая) {{ person.name }}!{% else %}Добрый день!{% endif %}</p>
<p>По сделке «{{ deal.title }}» предлагаем:</p>
"""
    + _LINES_TABLE
    + """\
<p><b>Итого: {{ total|money(currency) }}</b></p>
<p>Предложение действительно до {{ valid_until|date }}.</p>
{% if message %}<p>{{ message }}</p>{% endif %}
<p>С уважением,<br>{{ manager.name }}{% if manager.email %}<br>{{ manager.email }}{% endif %}</p>
"""
)

PRICE_LIST = """\
<h1>Прайс-лист</h1>
<p>Для: <b>{{ company.name }}</b>. Цены на {{ today|date }}, действительны до {{ valid_until|date }}.</p>
<table width="100%">
<thead><tr><th width="18%">Код</th><th width="42%">Наименование</th><th width="15%">Ед.</th><th width="25%">Цена</th></tr></thead>
<tbody>
{% for p in products %}
<tr><td>{{ p.code }}</td><td>{{ p.name }}{% if p.group %} ({{ p.group }}){% endif %}</td><td>{{ p.unit }}</td><td align="right">{{ p.list_price|money(p.currency) }}</td></tr>
{% endfor %}
</tbody>
</table>
<p>{{ manager.name }}{% if manager.email %}, {{ manager.email }}{% endif %}</p>
"""

PRODUCT_SHEET = """\
<h1>Описание продукции</h1>
<p>Для: <b>{{ company.name }}</b>{% if deal %}, сделка «{{ deal.title }}»{% endif %}</p>
{% for l in lines %}
<h3>{{ l.name }}</h3>
<p>Код: {{ l.code }}{% if l.group %}; группа: {{ l.group }}{% endif %}<br>
Единица: {{ l.unit }}; цена по прайс-листу: {{ l.list_price|money(currency) }}<br>
В предложении: {{ l.quantity|qty }} {{ l.unit }} по {{ l.unit_price|money(currency) }}</p>
{% endfor %}
"""

INVOICE = """\
<h1>Счёт на оплату № {{ invoice.number }} от {{ invoice.issue_date|date }}</h1>
<p>Плательщик: <b>{{ company.legal_name or company.name }}</b>{% if company.tax_id %}, ИНН {{ company.tax_id }}{% endif %}</p>
<table width="100%">
<thead><tr><th width="6%">№</th><th width="38%">Наименование</th><th width="10%">Кол-во</th><th width="16%">Цена</th><th width="10%">НДС</th><th width="20%">Всего</th></tr></thead>
<tbody>
{% for l in invoice.lines %}
<tr><td>{{ loop.index }}</td><td>{{ l.description }}</td><td>{{ l.quantity|qty }}</td><td align="right">{{ l.unit_price|money }}</td><td>{{ l.vat_rate }}{% if l.vat_rate not in ('none',) %}%{% endif %}</td><td align="right">{{ l.gross|money }}</td></tr>
{% endfor %}
</tbody>
</table>
<p>Без НДС: {{ invoice.net|money(invoice.currency) }}<br>НДС: {{ invoice.vat|money(invoice.currency) }}<br>
<b>Всего к оплате: {{ invoice.total|money(invoice.currency) }}</b></p>
<p>Оплатить до {{ invoice.due_date|date }}.</p>
"""

DOCUMENTS = {
    "proposal": ("Коммерческое предложение", "Коммерческое предложение — {{ company.name }}", PROPOSAL),
    "price_list": ("Прайс-лист", "Прайс-лист — {{ company.name }}", PRICE_LIST),
    "product_sheet": ("Описание продукции", "Описание продукции — {{ company.name }}", PRODUCT_SHEET),
    "invoice": ("Счёт на оплату", "Счёт {{ invoice.number }}", INVOICE),
}

EMAILS = {
    "proposal_email": (
        "Письмо с документами по сделке",
        "{{ deal.title }}: документы от {{ manager.name }}",
        "{% if person %}Уважаемый(ая) {{ person.name }}!{% else %}Добрый день!{% endif %}\n\n"
        "{{ message or 'Направляем документы по нашему предложению.' }}\n\n"
        "Во вложении: {{ documents|join(', ') }}.\n\n"
        "С уважением,\n{{ manager.name }}\n{{ manager.email or '' }}\n",
    ),
    "meeting_reminder": (
        "Напоминание о встрече менеджеру",
        "Напоминание: {{ meeting.subject or 'встреча' }} в {{ meeting.starts_local }}",
        "{{ recipient.name }}, через {{ meeting.minutes_before }} мин. у вас {{ meeting.kind_ru }} "
        "с {{ company.name }}.\n"
        "Начало: {{ meeting.starts_local }}, {{ meeting.duration_minutes }} мин.\n"
        "{% if meeting.place %}Место: {{ meeting.place }}\n{% endif %}"
        "{% if meeting.subject %}Тема: {{ meeting.subject }}\n{% endif %}",
    ),
    "invoice_overdue": (
        "Просрочен счёт: менеджеру и руководителю",
        "Просрочена оплата счёта {{ invoice.number }} — {{ company.name }}",
        "{{ recipient.name }},\n\nсчёт {{ invoice.number }} клиента {{ company.name }} не оплачен: "
        "долг {{ invoice.outstanding|money(invoice.currency) }}, срок оплаты был {{ invoice.due_date|date }} "
        "({{ invoice.days_overdue }} дн. назад).\nОтветственный менеджер: {{ manager.name }}.\n",
    ),
    "inactivity": (
        "Клиент без внимания",
        "{{ company.name }}: {{ inactivity.days_inactive }} дн. без контакта",
        "{{ recipient.name }},\n\nпо клиенту {{ company.name }} ничего не записано уже "
        "{{ inactivity.days_inactive }} дн.{% if inactivity.last_activity_at %} (последняя запись "
        "{{ inactivity.last_activity_at|date }}){% endif %}. Свяжитесь с клиентом.\n",
    ),
    "digest": (
        "Утренняя сводка менеджера",
        "Сводка на {{ today|date }}",
        "{{ recipient.name }}, доброе утро!\n\n"
        "Встречи сегодня ({{ digest.meetings|length }}):\n"
        "{% for m in digest.meetings %}- {{ m.starts_local }} {{ m.company }}{% if m.subject %}: {{ m.subject }}{% endif %}\n"
        "{% else %}- нет\n{% endfor %}\n\n"
        "Просроченные счета ({{ digest.overdue|length }}):\n"
        "{% for i in digest.overdue %}- {{ i.number }} {{ i.company }}: {{ i.outstanding|money(i.currency) }}, "
        "срок {{ i.due_date|date }}\n{% else %}- нет\n{% endfor %}\n\n"
        "Сделки без движения ({{ digest.stalled|length }}):\n"
        "{% for d in digest.stalled %}- {{ d.title }} ({{ d.company }}), этап «{{ d.stage }}», "
        "{{ d.days }} дн.\n{% else %}- нет\n{% endfor %}",
    ),
    "mailing": (
        "Рассылка по маркетинговому мероприятию",
        "{{ event.name or 'Приглашение' }}{% if event.starts_on %}, {{ event.starts_on|date }}{% endif %}",
        "Уважаемый(ая) {{ recipient.name }}!\n\n{{ offer or 'Приглашаем вас принять участие.' }}\n",
    ),
}
