"""Adapters of the store port (hub/store.py): where a hub keeps what must
outlive it. ``files.FileStore`` keeps the retained values in the state
directory."""
