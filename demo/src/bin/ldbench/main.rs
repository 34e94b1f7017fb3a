//! `ldbench`: the ldirectord check-round benchmark behind `benches/run.sh`.
//!
//! - `ldbench round --impl ours|real --reals N --check connect|negotiate --out DIR`:
//!   one measurement (see `round.rs`), printed and written as DIR/result.json.
//! - `ldbench table DIR…`: the markdown rows (ours vs real, ratios) and the
//!   gnuplot data file of round time vs number of reals, from result.json files.
//! - called as `ipvsadm`: the stand-in ipvsadm for the real ldirectord.

mod farm;
mod ipvsadm;
mod merge;
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
    /// The one markdown table: ldirectord rows from result.json files (or
    /// directories holding one), plus the other benches' outputs.
    Table {
        /// Also write "check reals ours_ms real_ms" rows here (for gnuplot).
        #[arg(long)]
        plot_data: Option<PathBuf>,
        /// benches/failover.sh output.
        #[arg(long)]
        failover: Option<PathBuf>,
        /// benches/footprint.sh output.
        #[arg(long)]
        footprint: Option<PathBuf>,
        /// AREA=FILE: another bench's markdown output, rows kept as printed.
        #[arg(long, value_parser = parse_extra)]
        extra: Vec<(String, PathBuf)>,
        /// Write the table (with --note above it) as this file's
        /// "## Summary (benches/run.sh)" section.
        #[arg(long)]
        doc: Option<PathBuf>,
        #[arg(long, default_value = "")]
        note: String,
        results: Vec<PathBuf>,
    },
}

fn parse_extra(s: &str) -> Result<(String, PathBuf), String> {
    s.split_once('=')
        .map(|(a, f)| (a.to_owned(), PathBuf::from(f)))
        .ok_or_else(|| format!("{s:?}: want AREA=FILE"))
}

#[allow(clippy::too_many_arguments)]
fn summary(
    results: &[PathBuf],
    plot_data: Option<&std::path::Path>,
    failover: Option<&std::path::Path>,
    footprint: Option<&std::path::Path>,
    extra: &[(String, PathBuf)],
    doc: Option<&std::path::Path>,
    note: &str,
) -> anyhow::Result<String> {
    let mut t = String::from(merge::HEADER);
    if let Some(f) = failover {
        t.push_str(&merge::read_rows("failover", f)?);
    }
    if let Some(f) = footprint {
        t.push_str(&merge::read_rows("footprint", f)?);
    }
    t.push_str(&table::run(results, plot_data)?);
    for (area, f) in extra {
        t.push_str(&merge::read_rows(area, f)?);
    }
    if let Some(d) = doc {
        let body = if note.is_empty() {
            t.clone()
        } else {
            format!("{note}\n\n{t}")
        };
        merge::write_section(d, "Summary (benches/run.sh)", &body)?;
    }
    Ok(t)
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
        Sub::Table {
            plot_data,
            failover,
            footprint,
            extra,
            doc,
            note,
            results,
        } => match summary(
            &results,
            plot_data.as_deref(),
            failover.as_deref(),
            footprint.as_deref(),
            &extra,
            doc.as_deref(),
            &note,
        ) {
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
