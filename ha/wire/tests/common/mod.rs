//! Golden datagrams captured from the real heartbeat 3.0.6 (see
//! tests/tools/capture-goldens.sh) and the authkeys they were signed with.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hb_wire::{AuthKeys, AuthMethod};

pub const METHODS: [&str; 3] = ["crc", "md5", "sha1"];

pub struct Golden {
    pub method: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
    pub keys: AuthKeys,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Just enough of the authkeys format for the files we captured with
/// (`auth N` + `N method [key]`); hb-config owns the real parser.
pub fn parse_authkeys(text: &str) -> AuthKeys {
    let mut active = None;
    let mut methods = BTreeMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["auth", n] => active = Some(n.parse().unwrap()),
            [n, "crc"] => {
                methods.insert(n.parse().unwrap(), AuthMethod::Crc);
            }
            [n, "md5", key] => {
                methods.insert(
                    n.parse().unwrap(),
                    AuthMethod::Md5 {
                        key: key.as_bytes().to_vec(),
                    },
                );
            }
            [n, "sha1", key] => {
                methods.insert(
                    n.parse().unwrap(),
                    AuthMethod::Sha1 {
                        key: key.as_bytes().to_vec(),
                    },
                );
            }
            _ => panic!("unexpected authkeys line {line:?}"),
        }
    }
    AuthKeys::new(active.expect("auth line"), methods).expect("active index configured")
}

pub fn goldens() -> Vec<Golden> {
    let mut all = Vec::new();
    for method in METHODS {
        let dir = golden_dir().join(method);
        let keys = parse_authkeys(&std::fs::read_to_string(dir.join("authkeys")).unwrap());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "{method}: only {} goldens", files.len());
        for path in files {
            all.push(Golden {
                method,
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                bytes: std::fs::read(&path).unwrap(),
                keys: keys.clone(),
            });
        }
    }
    all
}
