#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mail_auth::scram::fuzz_messages(data));
