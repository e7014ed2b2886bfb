"""Adapters of the store port (hub/store.py): where a hub keeps what must
outlive it. ``sqlite.store.SqliteStore`` keeps the retained values, the MQTT
sessions and the readings in the state directory's database (picloud.db);
``files`` reads the JSON files of earlier versions, once, to move them in."""
