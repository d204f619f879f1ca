"""Triggers: deferred chaos holds (``hold``) and waits for another replay's claims (``claims``)."""
