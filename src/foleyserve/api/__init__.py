"""The HTTP API: routes, and what they send out (signed webhooks)."""
