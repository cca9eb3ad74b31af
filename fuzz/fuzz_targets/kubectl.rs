//! kubectl output: event tables, describe text, JSON lists, recorded snapshots.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| loglens_tools::fuzzing::kubectl(text));
