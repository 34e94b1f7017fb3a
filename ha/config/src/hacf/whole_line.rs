//! config.c's whole-line directives: `stonith`, `stonith_host`, `apiauth`,
//! `respawn`, `failfast`.

use std::path::Path;

use super::{Parser, WHITESPACE};
use crate::{ApiAuth, Respawn, Stonith, StonithHost};

/// Split off the first blank-separated word; the rest has leading blanks
/// removed and trailing ones trimmed (the comment before them is gone).
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(WHITESPACE);
    let end = s.find(WHITESPACE).unwrap_or(s.len());
    let (w, rest) = s.split_at(end);
    (w, rest.trim_matches(WHITESPACE))
}

impl Parser<'_> {
    pub(super) fn whole_line(&mut self, kind: &'static str, rest: &str) -> Result<(), String> {
        match kind {
            "stonith" => {
                let (stonith_type, config_file) = first_word(rest);
                if stonith_type.is_empty() {
                    return Err("No Stonith type given".into());
                }
                if config_file.is_empty() {
                    return Err(format!(
                        "stonith {stonith_type}: missing configuration file"
                    ));
                }
                self.stonith.push(Stonith {
                    stonith_type: stonith_type.to_string(),
                    config_file: config_file.to_string(),
                });
            }
            "stonith_host" => {
                let (host, rest) = first_word(rest);
                if host.is_empty() {
                    return Err("No Stonith hostname argument given".into());
                }
                let (stonith_type, params) = first_word(rest);
                if stonith_type.is_empty() {
                    return Err("No Stonith type given".into());
                }
                self.stonith_host.push(StonithHost {
                    host: host.to_ascii_lowercase(),
                    stonith_type: stonith_type.to_string(),
                    params: params.to_string(),
                });
            }
            "apiauth" => self.apiauth_line(rest)?,
            // respawn and failfast
            _ => {
                let (user, command) = first_word(rest);
                if user.is_empty() || command.is_empty() {
                    return Err(format!(
                        "{kind}: expected \"{kind} <user> </full/path/to/command> [args]\""
                    ));
                }
                if !command.starts_with('/') {
                    return Err(format!(
                        "Client child command [{command}] is not full pathname"
                    ));
                }
                let child = Respawn {
                    user: user.to_string(),
                    command: command.to_string(),
                };
                if !self.host.user_exists(user) {
                    return Err(format!("Invalid uid [{user}] specified for client child"));
                }
                // ipfail runs built in (hb-resources' ipfail), wherever
                // the distribution would have installed the binary.
                let builtin = kind == "respawn" && child.is_ipfail();
                if !builtin && !self.host.is_executable(Path::new(child.path())) {
                    return Err(format!(
                        "Client child command [{}] is not executable",
                        child.path()
                    ));
                }
                if kind == "respawn" {
                    self.respawn.push(child);
                } else {
                    self.failfast.push(child);
                }
            }
        }
        Ok(())
    }

    /// `apiauth client [uid=list] [gid=list]` (`set_api_authorization`).
    fn apiauth_line(&mut self, rest: &str) -> Result<(), String> {
        let bad = || {
            format!(
                "Invalid apiauth directive [{}]: expected \"apiauth <client> [uid=uidlist] [gid=gidlist]\" with at least one list",
                rest.trim_matches(WHITESPACE)
            )
        };
        let (client, mut tail) = first_word(rest);
        if client.is_empty() {
            return Err(bad());
        }
        let (mut uids, mut gids) = (None::<Vec<String>>, None::<Vec<String>>);
        while !tail.is_empty() {
            let (word, next) = first_word(tail);
            tail = next;
            let (slot, list, what) = if let Some(l) = word.strip_prefix("uid=") {
                (&mut uids, l, "uid")
            } else if let Some(l) = word.strip_prefix("gid=") {
                (&mut gids, l, "gid")
            } else {
                return Err(format!("Missing uid or gid in apiauth [{word}]"));
            };
            if slot.is_some() {
                return Err(format!("Duplicate {what} list in apiauth"));
            }
            *slot = Some(
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        if uids.is_none() && gids.is_none() {
            return Err(bad());
        }
        if self.apiauth.iter().any(|a| a.client == client) {
            return Err(format!(
                "Duplicate apiauth directive for API client {client}"
            ));
        }
        let (uids, gids) = (uids.unwrap_or_default(), gids.unwrap_or_default());
        let numeric = |s: &str| s.parse::<u32>().is_ok();
        if let Some(u) = uids
            .iter()
            .find(|u| !numeric(u) && !self.host.user_exists(u))
        {
            return Err(format!("Bad uid list [{}]: no user {u}", uids.join(",")));
        }
        if let Some(g) = gids
            .iter()
            .find(|g| !numeric(g) && !self.host.group_exists(g))
        {
            return Err(format!("Bad gid list [{}]: no group {g}", gids.join(",")));
        }
        self.apiauth.push(ApiAuth {
            client: client.to_string(),
            uids,
            gids,
        });
        Ok(())
    }
}
