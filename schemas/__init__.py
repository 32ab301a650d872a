"""The wire contract between terminals and HQ, defined once (version 1).

Imports nothing of ours: both the terminal's sync engine and the HQ service
depend on it, never the other way round.
"""
