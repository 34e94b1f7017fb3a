//! A netlink datagram as the kernel might answer a GET_SERVICE, GET_DEST or
//! GET_INFO: split, deserialized and decoded without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ld_ipvs_kernel::decode_reply_datagram(data);
});
