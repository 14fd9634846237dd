#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pop3_proto::fuzzing::command(data));
