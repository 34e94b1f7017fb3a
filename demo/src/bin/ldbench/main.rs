//! `ldbench`: the ldirectord check-round benchmark behind `benches/run.sh`.
//!
//! - `ldbench round --impl ours|real --reals N --check connect|negotiate --out DIR`:
//!   one measurement (see `round.rs`), printed and written as DIR/result.json.
//! - `ldbench table DIR…`: the markdown rows (ours vs real, ratios) and the
//!   gnuplot data file of round time vs number of reals, from result.json files.
//! - called as `ipvsadm`: the stand-in ipvsadm for the real ldirectord.

mod farm;
mod ipvsadm;
mod round;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ldbench")]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// One measurement.
    Round(round::RoundArgs),
    /// Markdown rows from result.json files (or directories holding one).
    Table {
        /// Also write "reals ours_ms real_ms" rows per check kind here.
        #[arg(long)]
        plot_data: Option<PathBuf>,
        results: Vec<PathBuf>,
    },
}

/// Raise the soft open-files limit to the hard one: 10,000 listeners.
fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let called = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called == "ipvsadm" {
        return ipvsadm::main(argv.get(1..).unwrap_or_default());
    }
    let cli = Cli::parse();
    match cli.command {
        Sub::Round(a) => {
            raise_nofile();
            match round::run(&a) {
                Ok(o) => {
                    println!("{}", serde_json::to_string(&o).unwrap_or_default());
                    if o.error.is_some() {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("ldbench round: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Sub::Table { plot_data, results } => match table::run(&results, plot_data.as_deref()) {
            Ok(t) => {
                print!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ldbench table: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
