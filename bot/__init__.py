"""SLIS Bot: the platform-neutral core (settings, types, services) and its composition root."""
