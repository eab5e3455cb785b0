"""Mercator contacts service: client cards, contact persons, history, scheduled meetings."""
