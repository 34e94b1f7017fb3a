//! Every `ldirectord.cf` under `examples/` parses: users copy these files.

use std::path::{Path, PathBuf};

use ldirector::config::{parse, ParseOptions, StaticResolver};

fn example_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path().join("ldirectord.cf")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_ldirectord_cf_parses() {
    let files = example_files();
    assert!(files.len() >= 2, "demo and lvs-director-pair: {files:?}");
    let resolver = StaticResolver::offline();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let cfg = parse(
            &f,
            &text,
            &ParseOptions {
                resolver: &resolver,
                hostname: "director1",
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !cfg.virtuals.is_empty(),
            "{}: no virtual service",
            f.display()
        );
        for v in &cfg.virtuals {
            assert!(
                !v.reals.is_empty(),
                "{}: {} has no real",
                f.display(),
                v.addr
            );
        }
    }
}
