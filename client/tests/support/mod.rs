//! Shared helpers for the client's integration tests.

#![allow(dead_code)] // each test binary uses a different part

pub mod mock;
