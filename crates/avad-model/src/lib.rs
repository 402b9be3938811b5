//! avad-model
