//! What `heartbeat -t` (load_all) says about broken configurations: every
//! problem of every file, each as `path:line: message`.

mod common;

use common::{rendered, ConfDir};
use hb_config::load_all;

const HACF: &str = "logfile /var/log/ha-log\nkeepalive 1\ndeadtime 3\ninitdead 12\n\
                    bcast eth0\nauto_failback on\nnode node1\nnode node2\n";
const AUTHKEYS: &str = "auth 2\n2 sha1 HI!\n";
const HARES: &str = "node1 IPaddr::192.0.2.50/24/eth0 hbtest::alpha::beta\n";

/// Load a directory made of the good files with `ha.cf` replaced.
fn problems_with_hacf(hacf: &str) -> (ConfDir, Vec<String>) {
    let dir = ConfDir::with("bad", hacf, AUTHKEYS, Some(HARES), "node1");
    let e = load_all(&dir.paths()).expect_err("config must be refused");
    let r = rendered(&e);
    (dir, r)
}

fn at(dir: &ConfDir, file: &str, line: usize, msg: &str) -> String {
    format!("{}:{line}: {msg}", dir.path().join(file).display())
}

#[test]
fn the_good_base_loads() {
    let dir = ConfDir::with("good", HACF, AUTHKEYS, Some(HARES), "node1");
    let l = load_all(&dir.paths()).unwrap();
    assert_eq!(l.local_node, "node1");
    assert_eq!(l.all_warnings().count(), 0);
}

#[test]
fn unknown_directive() {
    let (dir, p) = problems_with_hacf(&format!("{HACF}respawn_everything yes\n"));
    assert_eq!(
        p,
        [at(
            &dir,
            "ha.cf",
            9,
            "unknown directive \"respawn_everything\""
        )]
    );
}

#[test]
fn deadtime_not_above_twice_keepalive() {
    let (dir, p) = problems_with_hacf(&HACF.replace("deadtime 3", "deadtime 2"));
    assert_eq!(
        p,
        [at(
            &dir,
            "ha.cf",
            3,
            "Dead time [2000] is too small compared to keepalive [1000]"
        )]
    );
}

#[test]
fn bad_durations() {
    let (dir, p) = problems_with_hacf(&HACF.replace("keepalive 1", "keepalive 2s"));
    assert_eq!(
        p,
        [at(
            &dir,
            "ha.cf",
            2,
            "keepalive: invalid time value \"2s\": expected seconds (2, 0.5) or a number \
             followed directly by ms, msec, us or usec (1500ms)"
        )]
    );
    let (dir, p) = problems_with_hacf(&HACF.replace("keepalive 1", "keepalive 500 ms"));
    assert_eq!(
        p,
        [at(
            &dir,
            "ha.cf",
            2,
            "keepalive: invalid time value \"500 ms\": no space is allowed between the number \
             and its unit (write 500ms)"
        )]
    );
}

#[test]
fn crm_on() {
    let (dir, p) = problems_with_hacf(&format!("{HACF}crm on\n"));
    assert_eq!(
        p,
        [at(
            &dir,
            "ha.cf",
            9,
            "crm on: Pacemaker (CRM) cluster management is not supported: this implementation \
             runs heartbeat v1 haresources mode only (use \"crm off\" or remove the line)"
        )]
    );
}

#[test]
fn missing_node() {
    // No node lines at all: heartbeat's "no nodes defined", and this node
    // is not in the configuration either. haresources' node is unknown too.
    let (dir, p) = problems_with_hacf(&HACF.replace("node node1\nnode node2\n", ""));
    let ha_cf = dir.path().join("ha.cf");
    assert_eq!(
        p,
        [
            format!("{}: no nodes defined", ha_cf.display()),
            format!(
                "{}: Current node [node1] not in configuration! Cluster nodes are named by \
                 `uname -n` (or the first line of {}) and must be declared with a 'node' directive",
                ha_cf.display(),
                dir.path().join("nodeinfo").display()
            ),
            at(
                &dir,
                "haresources",
                1,
                "Bad nodename [node1]: not a node of ha.cf (nodes: none)"
            ),
        ]
    );
}

#[test]
fn local_node_not_declared() {
    let dir = ConfDir::with("stranger", HACF, AUTHKEYS, Some(HARES), "Node3");
    let e = load_all(&dir.paths()).unwrap_err();
    assert_eq!(
        rendered(&e),
        [format!(
            "{}: Current node [node3] not in configuration! Cluster nodes are named by `uname -n` \
             (or the first line of {}) and must be declared with a 'node' directive",
            dir.path().join("ha.cf").display(),
            dir.path().join("nodeinfo").display()
        )]
    );
}

#[test]
fn authkeys_readable_by_others() {
    for mode in [0o644, 0o640, 0o604, 0o620, 0o601] {
        let dir = ConfDir::with("perm", HACF, AUTHKEYS, Some(HARES), "node1");
        dir.write("authkeys", AUTHKEYS, mode);
        let e = load_all(&dir.paths()).unwrap_err();
        assert_eq!(
            rendered(&e),
            [format!(
                "{0}: Bad permissions on keyfile [{0}] (mode {mode:04o}), 600 recommended.",
                dir.path().join("authkeys").display()
            )]
        );
    }
    for mode in [0o600, 0o400] {
        let dir = ConfDir::with("perm-ok", HACF, AUTHKEYS, Some(HARES), "node1");
        dir.write("authkeys", AUTHKEYS, mode);
        assert!(load_all(&dir.paths()).is_ok(), "mode {mode:o}");
    }
}

#[test]
fn unknown_auth_index() {
    let dir = ConfDir::with(
        "authidx",
        HACF,
        "auth 3\n2 sha1 HI!\n",
        Some(HARES),
        "node1",
    );
    let e = load_all(&dir.paths()).unwrap_err();
    assert_eq!(
        rendered(&e),
        [at(&dir, "authkeys", 1, "Auth Key [3] not found in keyfile")]
    );
}

#[test]
fn problems_of_all_files_at_once() {
    let dir = ConfDir::with(
        "all",
        &HACF.replace("deadtime 3", "deadtime 3s"),
        "auth 1\n1 md5\n",
        Some("node9 10.0.0.1\nnode2 10.0.0.1\nnode1 10.0.0.1\n"),
        "node1",
    );
    let e = load_all(&dir.paths()).unwrap_err();
    assert_eq!(
        rendered(&e),
        [
            at(
                &dir,
                "ha.cf",
                3,
                "deadtime: invalid time value \"3s\": expected seconds (2, 0.5) or a number \
                 followed directly by ms, msec, us or usec (1500ms)"
            ),
            at(&dir, "authkeys", 2, "Auth method [md5] requires a key"),
            at(&dir, "authkeys", 1, "Auth Key [1] not found in keyfile"),
            at(
                &dir,
                "haresources",
                1,
                "Bad nodename [node9]: not a node of ha.cf (nodes: node1, node2)"
            ),
            at(
                &dir,
                "haresources",
                3,
                "resource group 10.0.0.1 is already defined on line 2 (the first resource of \
                 each line is the group key and must be unique)"
            ),
        ]
    );
}

#[test]
fn missing_files() {
    let dir = ConfDir::new("empty");
    let e = load_all(&dir.paths()).unwrap_err();
    let r = rendered(&e);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].starts_with(&format!(
        "{}: cannot open config file: ",
        dir.path().join("ha.cf").display()
    )));
    assert!(r[1].starts_with(&format!(
        "{}: cannot open keyfile: ",
        dir.path().join("authkeys").display()
    )));
}

#[test]
fn missing_haresources_means_no_resources() {
    let dir = ConfDir::with("nores", HACF, AUTHKEYS, None, "node2");
    let l = load_all(&dir.paths()).unwrap();
    assert!(l.haresources.groups.is_empty());
    let w: Vec<String> = l.all_warnings().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [format!(
            "{}: does not exist: no resources will be managed (heartbeat 3.0.6 refuses to start \
             without this file)",
            dir.path().join("haresources").display()
        )]
    );
}

#[test]
fn truncated_key_is_loaded_and_reported() {
    let dir = ConfDir::with(
        "trunc",
        HACF,
        "auth 2\n2 sha1 two words\n",
        Some(HARES),
        "node1",
    );
    let l = load_all(&dir.paths()).unwrap();
    assert_eq!(
        l.authkeys.active_method(),
        &hb_wire::AuthMethod::Sha1 {
            key: b"two".to_vec()
        }
    );
    assert_eq!(
        l.authkeys_warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [at(
            &dir,
            "authkeys",
            2,
            "text after the key of index 2 is ignored: heartbeat uses only the first word as the \
             key, so a key containing blanks is cut at the first blank"
        )]
    );
}
