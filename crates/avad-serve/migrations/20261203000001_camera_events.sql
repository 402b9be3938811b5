-- `avad serve --watch`: the event messages (`new` / `update` / `end`) of the watched cameras, as they arrived.
-- id: a UUIDv7 given on arrival (pages newest first, like jobs); received_ms: Unix milliseconds of the arrival;
-- message: the whole message as JSON text.
CREATE TABLE camera_events (
    id          TEXT PRIMARY KEY,
    camera      TEXT NOT NULL,
    label       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX camera_events_by_camera ON camera_events (camera, id);
CREATE INDEX camera_events_by_time ON camera_events (received_ms);
