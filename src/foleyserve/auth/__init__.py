"""Tenants and their API keys: the `KeyStore` contract (`keys`) and its SQLite and Redis
implementations. `open_key_store(url)` picks one from the same URLs as the job store.
"""

from __future__ import annotations

from foleyserve.auth.keys import ApiKey, KeyStore, Tenant, open_key_store

__all__ = ["ApiKey", "KeyStore", "Tenant", "open_key_store"]
