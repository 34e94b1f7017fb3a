//! The simulator as a harness for clients of the core: reacting to events
//! in virtual time, with delays.

mod common;

use common::*;
use hb_membership::hb_wire::Message;
use hb_membership::sim::{LinkParams, Timing};
use hb_membership::Event;

#[test]
fn a_client_can_answer_messages_in_virtual_time() {
    let mut sim = fast_sim(&["node1", "node2"], Timing::ms(10, 50, 30, 100), 1, 61);
    sim.set_default_link(LinkParams {
        delay: ms(3),
        ..Default::default()
    });
    sim.start_all();
    sim.run_until(ms(100));
    for n in 0..5 {
        sim.send(0, app_msg(n));
    }
    // node2 answers each request; node1 counts the answers.
    sim.run_with(ms(200), |node, ev| match (node, ev) {
        (1, Event::Deliver { msg, .. }) if field(msg, "t") == "ask_resources" => {
            let mut reply = Message::with_type("resource");
            reply.add_str("n", field(msg, "n"));
            vec![reply]
        }
        _ => vec![],
    });
    let replies = app_numbers(&sim.delivered(0, "node2"));
    assert_eq!(replies, vec![0, 1, 2, 3, 4]);
    // One link delay there, one back.
    let first_reply = sim.first_event(0, |e| matches!(e, Event::Deliver { .. }));
    assert_eq!(first_reply, Some(ms(106)));
}
