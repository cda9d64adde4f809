"""Helpers and fixtures the tests share: plain modules and pytest plugins, never test modules."""
