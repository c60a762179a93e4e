"""Helpers shared by test packages (not a test package itself)."""
