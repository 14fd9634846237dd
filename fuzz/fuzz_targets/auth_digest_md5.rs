#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mail_auth::digest_md5::fuzz_response(data));
