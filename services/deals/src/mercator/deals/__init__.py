"""Mercator deals service: the pipeline from first contact to won or lost."""
