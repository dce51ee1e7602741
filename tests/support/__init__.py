"""Helpers shared by tests: job modules for the scheduler, subprocess harnesses."""
