//! `auto_failback legacy`: groups are asked for with `ip-request`.

use super::{Peer, ResourceManager};
use crate::exec::{Notice, Step};
use crate::hold::Hold;
use crate::log::{Level, Log, Source};
use crate::messages;

impl ResourceManager {
    /// Legacy mode asks for its groups once (`req_resource`) and never
    /// again. A peer that restarted quicker than deadtime may have lost our
    /// unanswered `ip-request`s: ask again for the groups not running here.
    pub(super) fn legacy_ask_again(&mut self) {
        if self.nice || !self.comm_up || self.shutdown_in_progress {
            return;
        }
        // Groups that failed to start here stay stopped (no retry loop).
        let steps: Vec<Step> = self
            .group_indices(Hold::LOCAL)
            .into_iter()
            .filter(|g| !self.exec.claims(*g) && self.start_failures.get(*g) == Some(&0))
            .map(|g| Step::Send(messages::ip_request(self.cfg.groups[g].key())))
            .collect();
        if !steps.is_empty() && self.peers.iter().any(Peer::alive) {
            self.exec.enqueue(steps);
            self.reask_at = Some(self.clock + self.cfg.timing.rqst_delay);
        }
    }

    /// `rc.d/ip-request`: give the group up if it runs here, then answer.
    pub(super) fn ip_request(&mut self, from: &str, key: &str) {
        let step = match self.group_index(key) {
            Some(group) => Step::GiveIfOwned {
                group,
                requester: from.to_string(),
            },
            None => Step::Send(messages::ip_request_resp(from, key, false)),
        };
        self.exec.enqueue(vec![step]);
    }

    /// `rc.d/ip-request-resp` addressed to us: take the group.
    pub(super) fn ip_request_resp(&mut self, key: &str, weown: Option<&str>, ok: Option<&str>) {
        let Some(g) = self.group_index(key) else {
            return;
        };
        if ok != Some("OK") || self.shutdown_in_progress {
            return;
        }
        self.exec.enqueue(vec![
            Step::Log(Log::new(
                Level::Info,
                Source::IpRequestResp,
                format!(
                    "received ip-request-resp {key} {} {}",
                    ok.unwrap_or(""),
                    weown.unwrap_or("")
                ),
            )),
            Step::Take(g),
            Step::Notice(Notice::IpRespTaken),
        ]);
    }
}
