"""Security suites: every route against every principal, the seal, public leaks, the audit trail, hostile input."""
