//! Every configuration shipped under `examples/` is one heartbeat accepts:
//! users copy these files, so a typo there would be our bug in their cluster.

use std::path::{Path, PathBuf};

use hb_config::{parse_authkeys, parse_ha_cf, parse_haresources};

fn example_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("ha.cf").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_example_cluster_config_parses_with_its_agents() {
    let dirs = example_dirs();
    assert!(
        dirs.len() >= 3,
        "expected the demo, lvs-director-pair and drbd-mysql examples, found {dirs:?}"
    );
    // The agents we ship, plus init scripts the examples name on purpose.
    let known = [
        "IPaddr",
        "IPaddr2",
        "drbddisk",
        "Filesystem",
        "LVSRealServer",
        "ldirectord",
        "mysqld",
        "hbdemo",
    ];
    for dir in dirs {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
        };
        let ha_cf =
            parse_ha_cf(&dir.join("ha.cf"), &read("ha.cf")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ha_cf.nodes.len(), 2, "{}: a two-node pair", dir.display());
        parse_authkeys(&dir.join("authkeys"), read("authkeys").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let hr = parse_haresources(&dir.join("haresources"), &read("haresources"), &ha_cf.nodes)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !hr.groups.is_empty(),
            "{}: no resource group",
            dir.display()
        );
        for r in hr.groups.iter().flat_map(|g| &g.resources) {
            assert!(
                known.contains(&r.script.as_str()),
                "{}: haresources names `{}`, which is neither one of our agents nor an init script the example documents",
                dir.display(),
                r.script
            );
        }
    }
}
