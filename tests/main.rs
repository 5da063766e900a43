//! Integration tests: the real `tagfusion` binary and the warehouse it writes, read back by a
//! second Delta reader. One test binary (build time); each area is a module.

mod integration;
#[path = "support/s3.rs"]
mod s3_support;
