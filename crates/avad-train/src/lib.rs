//! avad-train
