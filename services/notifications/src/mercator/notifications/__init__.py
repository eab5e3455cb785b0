"""Mercator notifications: templates, documents, e-mail and fax, reminders, alerts and digests."""
