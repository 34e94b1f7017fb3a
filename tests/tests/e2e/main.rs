//! End-to-end tests in network namespaces. One test binary, so that
//! scenarios run in parallel (`-- --test-threads=N`); each builds its own
//! cluster under a unique `hbt<pid>x<n>` prefix and tears it down.
//!
//! Without root or the Debian heartbeat package they SKIP, unless
//! `HA_E2E_REQUIRED=1` (CI), which turns a missing prerequisite into a failure.

mod common;
mod fake_peer;
mod interop;
mod real_pair;
