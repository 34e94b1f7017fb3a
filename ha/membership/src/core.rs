//! The membership state machine. (Implementation in progress.)

/// The membership state machine for one node.
#[derive(Debug)]
pub struct Membership {
    _private: (),
}
