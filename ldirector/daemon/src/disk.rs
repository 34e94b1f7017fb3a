//! The file-system side of the daemon loop's housekeeping and reloads:
//! everything here blocks (stat, read, directory listing, name resolution
//! while parsing), so the loop runs it on the blocking pool and gets the
//! result back as a message; it never waits for a disk or a resolver.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ldirector::config::{Config, ConfigError};

use crate::load;

/// The configuration file as last read.
#[derive(Clone, Debug, Default)]
pub struct FileSeen {
    pub mtime: Option<SystemTime>,
    pub text: Option<Arc<str>>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl FileSeen {
    /// Stat, then read (capped). The stat comes first so that an edit
    /// landing in between is seen again at the next scan.
    pub fn read(path: &Path) -> (FileSeen, Result<Arc<str>, ConfigError>) {
        let mtime = mtime(path);
        let text = load::read_config(path).map(Arc::from);
        let seen = FileSeen {
            mtime,
            text: text.as_ref().ok().cloned(),
        };
        (seen, text)
    }
}

/// What one housekeeping scan needs to know of the running state.
pub struct ScanRequest {
    pub path: PathBuf,
    pub seen: FileSeen,
    /// Parse a changed file right away (it will be reloaded).
    pub autoreload: bool,
    pub maintenancedir: Option<PathBuf>,
}

/// The configuration file when its mtime moved.
pub enum FileChange {
    /// Same text (touched, or rewritten identically).
    Same,
    /// Could not be read (too large, gone, unreadable): the running
    /// configuration stays.
    Unreadable(ConfigError),
    Changed {
        text: Arc<str>,
        /// Only with autoreload.
        parsed: Option<Box<Result<Config, ConfigError>>>,
    },
}

pub struct Scan {
    pub mtime: Option<SystemTime>,
    /// `None` when the mtime did not move.
    pub change: Option<FileChange>,
    /// The names in `maintenancedir` (`None` without one; an unreadable
    /// directory is empty).
    pub maintenance: Option<BTreeSet<String>>,
}

/// One housekeeping scan (blocking).
pub fn scan(req: &ScanRequest) -> Scan {
    let mtime = mtime(&req.path);
    let change = (mtime != req.seen.mtime).then(|| match load::read_config(&req.path) {
        Err(e) => FileChange::Unreadable(e),
        Ok(text) if Some(text.as_str()) == req.seen.text.as_deref() => FileChange::Same,
        Ok(text) => FileChange::Changed {
            parsed: req
                .autoreload
                .then(|| Box::new(load::parse_text(&req.path, &text))),
            text: Arc::from(text),
        },
    });
    let maintenance = req.maintenancedir.as_deref().map(list_dir);
    Scan {
        mtime,
        change,
        maintenance,
    }
}

fn list_dir(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// A reload's reading and parsing (blocking): the file as read goes with
/// the result so that autoreload does not take the reload for an edit.
pub struct Loaded {
    pub seen: FileSeen,
    pub config: Result<Config, ConfigError>,
}

pub fn load(path: &Path) -> Loaded {
    let (seen, text) = FileSeen::read(path);
    let config = text.and_then(|t| load::parse_text(path, &t));
    Loaded { seen, config }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &Path, seen: FileSeen) -> ScanRequest {
        ScanRequest {
            path: path.to_path_buf(),
            seen,
            autoreload: true,
            maintenancedir: None,
        }
    }

    #[test]
    fn a_too_large_file_is_refused_by_name_and_the_old_text_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ldibig.cf");
        std::fs::write(&p, "checkinterval=1\n").unwrap();
        let (seen, text) = FileSeen::read(&p);
        assert_eq!(text.unwrap().as_ref(), "checkinterval=1\n");
        let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.set_len(load::MAX_CONFIG_BYTES + 1).unwrap();
        let s = scan(&req(
            &p,
            FileSeen {
                mtime: None,
                ..seen
            },
        ));
        let Some(FileChange::Unreadable(e)) = s.change else {
            panic!("want Unreadable");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}: larger than 16777216 bytes", p.display())),
            "{msg}"
        );
        let e = load::load(&p).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }

    #[test]
    fn only_a_moved_mtime_with_new_text_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ldichg.cf");
        std::fs::write(&p, "checkinterval=1\n").unwrap();
        let (seen, _) = FileSeen::read(&p);
        assert!(scan(&req(&p, seen.clone())).change.is_none());
        let stale = FileSeen {
            mtime: None,
            ..seen.clone()
        };
        assert!(matches!(
            scan(&req(&p, stale)).change,
            Some(FileChange::Same)
        ));
        std::fs::write(&p, "checkinterval=2\n").unwrap();
        let moved = FileSeen {
            mtime: None,
            ..seen
        };
        match scan(&req(&p, moved)).change {
            Some(FileChange::Changed {
                text,
                parsed: Some(parsed),
            }) => {
                let c = (*parsed).unwrap();
                assert_eq!(text.as_ref(), "checkinterval=2\n");
                assert_eq!(c.global.checkinterval, std::time::Duration::from_secs(2));
            }
            _ => panic!("want a parsed change"),
        }
    }
}
