"""Fixtures of the gate suite. Each is computed once per run (session scope) and shared by the checks that read it."""
