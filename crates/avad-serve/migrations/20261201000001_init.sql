-- avad serve: the job queue and the API tokens. Written once for SQLite and PostgreSQL (types both accept;
-- times are Unix milliseconds in BIGINT).
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    status        TEXT NOT NULL,
    progress      DOUBLE PRECISION NOT NULL DEFAULT 0,
    file_name     TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_expires BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    started_ms    BIGINT,
    finished_ms   BIGINT,
    result_path   TEXT,
    error         TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, lease_expires);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
