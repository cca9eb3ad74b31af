//! A model server's reply: the JSON answer, and the event stream it arrives in.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(0) as usize;
    loglens_agents::fuzzing::model_stream(data, split);
    if let Ok(text) = std::str::from_utf8(data) {
        loglens_agents::fuzzing::model_answer(text);
    }
});
