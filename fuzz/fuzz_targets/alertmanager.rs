//! An Alertmanager webhook body: parsed, validated, and turned into investigations.
#![no_main]
use loglens::incidents::alertmanager::Notification;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(n) = serde_json::from_slice::<Notification>(data) else {
        return;
    };
    if n.validate().is_ok() {
        for a in &n.alerts {
            let _ = a.dedupe_key();
            let _ = a.resolved_at();
            let inv = a.investigation(std::time::Duration::from_secs(1800), n.external_url.clone());
            let _ = inv.filters.to_filter(chrono::Utc::now());
        }
    }
});
