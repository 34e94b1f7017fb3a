//! `/var/lib/heartbeat/fifo`: stock scripts (`hb_standby`, `mach_down`,
//! `req_resource`, `rc.d/*`) write unsigned classic `>>>`…`<<<` messages
//! into it (`ha_clustermsg`); the daemon signs and sends them to the cluster.
//! The file mode (0600, root) is the access control, as in heartbeat.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;

use hb_wire::{FifoReader, Message};
use nix::sys::stat::Mode;
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

const FIFO_MODE: u32 = 0o600;

/// Make sure `path` is a FIFO with mode 0600. Returns true if it was created
/// (heartbeat logs "Creating FIFO /var/lib/heartbeat/fifo.").
pub fn ensure_fifo(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FIFO_MODE))?;
            Ok(false)
        }
        Ok(_) => {
            std::fs::remove_file(path)?;
            make(path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            make(path)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

fn make(path: &Path) -> io::Result<()> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(FIFO_MODE)).map_err(io::Error::from)?;
    // mkfifo honours the umask; the mode must be exact.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FIFO_MODE))
}

/// A message read from the FIFO, or a frame that did not parse.
#[derive(Debug)]
pub enum FifoInput {
    Message(Message),
    Bad(hb_wire::DecodeError),
}

/// Read the FIFO forever, forwarding each message into `tx`. The FIFO is
/// opened read-write so the reader never sees end-of-file between writers.
/// Must run inside a tokio runtime.
pub fn spawn_reader<T: From<FifoInput> + Send + 'static>(
    path: &Path,
    tx: mpsc::Sender<T>,
) -> io::Result<()> {
    let mut rx = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)?;
    tokio::spawn(async move {
        let mut framer = FifoReader::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match rx.read(&mut buf).await {
                Ok(0) => continue,
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "FIFO read failed; no longer reading it");
                    return;
                }
            };
            framer.push(buf.get(..n).unwrap_or_default());
            while let Some(item) = framer.next_message() {
                let input = match item {
                    Ok(m) => FifoInput::Message(m),
                    Err(e) => FifoInput::Bad(e),
                };
                if tx.send(input.into()).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn creates_fifo_with_mode_0600_and_replaces_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        assert!(ensure_fifo(&path).unwrap());
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert!(!ensure_fifo(&path).unwrap());

        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "not a fifo").unwrap();
        assert!(ensure_fifo(&path).unwrap());
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_fifo());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn script_style_writes_arrive_as_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        ensure_fifo(&path).unwrap();
        let (tx, mut rx) = mpsc::channel::<FifoInput>(4);
        spawn_reader(&path, tx).unwrap();
        // What `ha_clustermsg` writes, in two separate opens like two scripts.
        for text in [
            ">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n",
            ">>>\nt=hb_takeover\nrsc_hold=foreign\n<<<\n",
        ] {
            let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..2 {
            let item = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .expect("message within 5 s")
                .unwrap();
            match item {
                FifoInput::Message(m) => got.push((
                    m.msg_type().unwrap_or("").to_owned(),
                    m.get_str("rsc_hold").unwrap_or("").to_owned(),
                )),
                FifoInput::Bad(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            got,
            [
                ("ask_resources".to_owned(), "all".to_owned()),
                ("hb_takeover".to_owned(), "foreign".to_owned())
            ]
        );
    }
}
