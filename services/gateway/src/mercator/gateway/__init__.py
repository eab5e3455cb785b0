"""Mercator gateway: the one entry for web and mobile front ends and partner systems."""
