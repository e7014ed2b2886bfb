"""The readings' tables. Times are Unix seconds (UTC); a rollup's ``t`` is
the start of its minute or hour."""

READINGS = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    first REAL NOT NULL, last REAL NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, event INTEGER NOT NULL, field TEXT NOT NULL, unit TEXT,
    first REAL NOT NULL, last REAL NOT NULL, count INTEGER NOT NULL, value REAL NOT NULL,
    UNIQUE (event, field));
CREATE TABLE IF NOT EXISTS messages (event INTEGER NOT NULL, t REAL NOT NULL, frame BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_event ON messages (event, t);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (series, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minutes (
    series INTEGER NOT NULL, t INTEGER NOT NULL, count INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (series, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hours (
    series INTEGER NOT NULL, t INTEGER NOT NULL, count INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (series, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS units (
    topic TEXT NOT NULL, field TEXT NOT NULL, unit TEXT NOT NULL,
    PRIMARY KEY (topic, field)) WITHOUT ROWID
"""

#: The tables the readings' budget (--store-max-bytes) counts, with their indexes.
READINGS_TABLES = ("events", "series", "messages", "messages_by_event", "points", "minutes", "hours", "units")
#: Rollup tables and the seconds each row covers.
ROLLUPS = (("minutes", 60), ("hours", 3600))
