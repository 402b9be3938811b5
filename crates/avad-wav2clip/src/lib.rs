//! avad-wav2clip
