//! Logs (stdout + size-rotated file, storm limiting); metrics and health
//! endpoints live beside them.
pub mod http;
pub mod logfile;
pub mod logging;
pub mod metrics;
