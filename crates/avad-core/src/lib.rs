//! avad-core
