"""Helpers several test modules share (fixtures stay in the conftest files)."""
