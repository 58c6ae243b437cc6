-- One row per request of the platform floor.
CREATE TABLE floor (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL);
