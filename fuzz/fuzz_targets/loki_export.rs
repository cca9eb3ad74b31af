//! A Loki `query_range` JSON export.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| loglens_tools::fuzzing::loki_export(data));
