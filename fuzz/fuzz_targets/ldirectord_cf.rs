//! ldirectord.cf: any text parses to a config or to `ConfigError`s that
//! each name the file and a line inside it.
#![no_main]

use std::path::Path;

use ldirector::config::{parse, ParseOptions, StaticResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let resolver = StaticResolver::offline();
    let opts = ParseOptions {
        resolver: &resolver,
        hostname: "director1",
    };
    if let Err(e) = parse(Path::new("/etc/ha.d/ldirectord.cf"), text, &opts) {
        let lines = text.lines().count().max(1) + 1;
        for p in &e.problems {
            assert!(p.to_string().starts_with("/etc/ha.d/ldirectord.cf"), "{p}");
            if let Some(line) = p.line {
                assert!(line >= 1 && line <= lines, "{p} (text has {lines} lines)");
            }
        }
    }
});
