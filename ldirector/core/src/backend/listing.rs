//! `ipvsadm -L -n` shaped listings of a [`Snapshot`] (plain, `--stats`,
//! `--rate`), the same for every backend.

use super::Snapshot;

/// Which columns, as ipvsadm's options choose them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListFormat {
    #[default]
    Plain,
    Stats,
    Rate,
}

/// Render like `ipvsadm -Ln` (`--stats`, `--rate`).
pub fn render(snapshot: &Snapshot, format: ListFormat) -> String {
    // Placeholder until the kernel-backend work lands the exact ipvsadm
    // layout; keeps the seam compiling.
    let _ = format;
    snapshot.table().listing()
}
