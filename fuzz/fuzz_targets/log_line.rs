//! One log line in any of the formats the file reader understands.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| loglens_tools::fuzzing::log_line(data));
