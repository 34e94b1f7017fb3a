//! `hb_takeover [all|local|foreign|failback]`: ask the peer to hand
//! resources to this node (see `heartbeat::standby`).

use heartbeat::paths::DaemonPaths;
use heartbeat::standby::{self, Tool};

fn main() {
    let argv0 = std::env::args()
        .next()
        .unwrap_or_else(|| "hb_takeover".to_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(standby::main(
        Tool::Takeover,
        &argv0,
        &args,
        &DaemonPaths::default().fifo,
    ));
}
