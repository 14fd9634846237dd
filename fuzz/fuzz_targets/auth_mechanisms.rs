#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mail_auth::fuzzing::mechanism(data));
