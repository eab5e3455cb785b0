"""Contracts with partners: the published documents against what runs."""
