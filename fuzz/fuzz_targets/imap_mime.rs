#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imap_proto::fuzzing::mime(data));
