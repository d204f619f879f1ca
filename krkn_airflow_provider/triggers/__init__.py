"""Triggers (none yet: holds run in the worker, checking the stop flag)."""
