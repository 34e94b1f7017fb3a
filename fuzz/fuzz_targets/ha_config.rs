//! ha.cf, authkeys and haresources: any text parses or gives
//! `ConfigError`s naming the file.
#![no_main]

use std::path::Path;

use hb_config::{parse_authkeys, parse_duration, parse_ha_cf, parse_haresources, ConfigError};
use libfuzzer_sys::fuzz_target;

fn names(e: &ConfigError, path: &str) {
    for p in &e.problems {
        assert!(p.to_string().starts_with(path), "{p}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_authkeys(Path::new("/etc/ha.d/authkeys"), data) {
        names(&e, "/etc/ha.d/authkeys");
    }
    let text = String::from_utf8_lossy(data);
    match parse_ha_cf(Path::new("/etc/ha.d/ha.cf"), &text) {
        Err(e) => names(&e, "/etc/ha.d/ha.cf"),
        Ok(cf) => {
            if let Err(e) = parse_haresources(Path::new("/etc/ha.d/haresources"), &text, &cf.nodes)
            {
                names(&e, "/etc/ha.d/haresources");
            }
        }
    }
    let nodes = ["alpha".to_string(), "beta".to_string()];
    if let Err(e) = parse_haresources(Path::new("/etc/ha.d/haresources"), &text, &nodes) {
        names(&e, "/etc/ha.d/haresources");
    }
    let _ = parse_duration(&text);
});
