//! The response parsers inside ld-checks that see server bytes: the first
//! byte picks the protocol, the rest is what the server sent.
#![no_main]

use ld_checks::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, data)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => fuzzing::ftp(data),
        1 => fuzzing::ldap(data),
        2 => fuzzing::mysql(data),
        3 => fuzzing::pgsql(data),
        4 => fuzzing::radius(data),
        5 => fuzzing::dns(data),
        6 => fuzzing::icmp(data),
        _ => {
            for f in [fuzzing::ftp, fuzzing::ldap, fuzzing::mysql, fuzzing::pgsql] {
                f(data);
            }
        }
    }
});
