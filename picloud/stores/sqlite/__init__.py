"""The state directory's SQLite database: retained values, MQTT sessions and readings."""
