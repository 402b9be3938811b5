//! avad-clip
