//! The negotiate judges and line dialogs of `ldirector::negotiate` fed
//! arbitrary server bytes, whole and in chunks (the first byte picks the
//! chunk size), plus the URL handling that server `Location`s reach.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use ldirector::config::{HttpMethod, Service};
use ldirector::director::NegotiateSpec;
use ldirector::negotiate::http::{
    check_url, http_request, judge_http, redirect_request, HttpProgress, Url,
};
use ldirector::negotiate::{judge_nntp, judge_simpletcp, judge_sip, Dialog, DialogStep};
use libfuzzer_sys::fuzz_target;
use regex::Regex;

/// Compiled once: compiling per input would be most of the run time.
static RECEIVE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    ["", "ok$"]
        .iter()
        .filter_map(|r| Regex::new(r).ok())
        .collect()
});

const ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn spec(service: Service, request: &str) -> NegotiateSpec {
    NegotiateSpec {
        service,
        request: request.to_string(),
        receive: String::new(),
        virtualhost: None,
        httpmethod: HttpMethod::Get,
        login: "user".into(),
        passwd: "pw\"\\".into(),
        database: String::new(),
        secret: String::new(),
    }
}

fn http(data: &[u8], chunk: usize, receive: &Regex) {
    let Ok(first) = http_request(&spec(Service::Http, "/"), ADDR, 80) else {
        panic!("the plain request must build");
    };
    for method in [HttpMethod::Get, HttpMethod::Head] {
        // As the shell does: judge after every read, EOF at the end.
        let mut end = 0;
        while end < data.len() {
            end = (end + chunk).min(data.len());
            match judge_http(method, receive, &data[..end], false) {
                HttpProgress::Incomplete => {}
                HttpProgress::Redirect(loc) => {
                    let _ = redirect_request(&first, &loc);
                    break;
                }
                HttpProgress::Done(_) => break,
            }
        }
        if let HttpProgress::Redirect(loc) = judge_http(method, receive, data, true) {
            let _ = redirect_request(&first, &loc);
        }
    }
}

fn dialog(service: Service, login: &str, data: &[u8], chunk: usize) {
    let Ok(mut d) = Dialog::new(service, login, "secret", "localhost.localdomain") else {
        panic!("{service:?} has a dialog");
    };
    let mut step = d.on_data(&[]);
    let mut chunks = data.chunks(chunk);
    // Bounded: every Send is answered by reading on, every step either
    // consumes a chunk or finishes.
    for _ in 0..data.len() * 4 + 16 {
        step = match step {
            DialogStep::Send(_) => d.on_data(&[]),
            DialogStep::Wait => match chunks.next() {
                Some(c) => d.on_data(c),
                None => return,
            },
            DialogStep::Done { .. } => return,
        };
    }
    panic!("{service:?} dialog does not progress");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let text = String::from_utf8_lossy(data);

    for re in RECEIVE.iter() {
        http(data, chunk, re);
        let _ = judge_simpletcp(re, data);
    }

    let _ = Url::parse(&text);
    for service in [Service::Http, Service::Https, Service::HttpProxy] {
        let s = spec(service, &text);
        let _ = check_url(&s, ADDR, 8080);
        let _ = http_request(&s, ADDR, 8080);
    }

    for (service, login) in [
        (Service::Smtp, ""),
        (Service::Pop, ""),
        (Service::Pop, "user"),
        (Service::Imap, ""),
        (Service::Imap, "user"),
    ] {
        dialog(service, login, data, chunk);
    }
    let _ = judge_sip(data);
    let _ = judge_nntp(data);
});
