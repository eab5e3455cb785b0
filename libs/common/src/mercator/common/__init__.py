"""Mercator platform shared by every service."""
