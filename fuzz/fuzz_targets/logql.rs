//! A LogQL query, as a model or a user writes it.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| loglens_tools::fuzzing::logql(text));
