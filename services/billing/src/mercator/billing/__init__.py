"""Mercator billing service: from contract to money received and goods delivered."""
