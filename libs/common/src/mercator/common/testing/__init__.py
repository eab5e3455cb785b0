"""Test support shared by every service: real PostgreSQL databases and a real Tansu broker."""
