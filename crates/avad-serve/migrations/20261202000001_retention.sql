-- Retention (--keep-uploads, --keep-results): when a job's upload was removed, and the upload's state while it is
-- being removed. upload_state: NULL = present, 'removing' = marked (readers treat it as gone; the sweeper deletes the
-- file and then sets 'removed'), 'removed'. A done job whose report expired gets status 'expired'; its result_path
-- stays set until the sweeper has deleted the report files, so a crash in between is finished by the next sweep.
ALTER TABLE jobs ADD COLUMN upload_state TEXT;
ALTER TABLE jobs ADD COLUMN upload_removed_ms BIGINT;
ALTER TABLE jobs ADD COLUMN expired_ms BIGINT;
