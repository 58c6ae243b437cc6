-- placeholder, replaced below
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
