//! The deployment's own configuration: the loglens.toml that each Kubernetes ConfigMap
//! carries must load (unknown keys and bad values are refused by `Config::load`), and the
//! bots' settings are checked when loaded. (scripts/check-k8s.sh validates the rendered
//! manifests themselves.)
use crate::support::{assert_ok, loglens};

/// The `loglens.toml: |` block of a ConfigMap manifest.
fn embedded_toml(manifest: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in manifest.lines() {
        if line.trim_start().starts_with("loglens.toml: |") {
            inside = true;
            continue;
        }
        if inside {
            if !line.is_empty() && !line.starts_with("    ") {
                break;
            }
            out.push_str(line.strip_prefix("    ").unwrap_or(""));
            out.push('\n');
        }
    }
    assert!(!out.trim().is_empty(), "no loglens.toml block found");
    out
}

fn load(toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loglens.toml");
    std::fs::write(&path, toml).unwrap();
    loglens()
        .args(["--config", path.to_str().unwrap(), "check-config"])
        .output()
        .unwrap()
}

#[test]
fn every_configmap_loads() {
    for manifest in ["k8s/base/config.yaml", "k8s/overlays/minimal/config.yaml"] {
        let text = std::fs::read_to_string(manifest).unwrap();
        let toml = embedded_toml(&text);
        let out = load(&toml);
        assert!(
            out.status.success(),
            "{manifest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // And a typo in it would not pass unnoticed.
        let typo = toml.replacen("[queue]", "[queue]\nworker = 2", 1);
        let out = load(&typo);
        assert!(!out.status.success(), "{manifest}: a typo was accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("worker"));
    }
}

#[test]
fn bot_settings_are_checked() {
    for (toml, says) in [
        ("[queue]\nworkers = 99\n", "workers must be"),
        ("[queue]\nlease_secs = 1\n", "lease_secs"),
        ("[alerts]\nlookback = \"soon\"\n", "lookback"),
        ("[alerts]\npipeline = \"magic\"\n", "pipeline"),
        ("[slack]\nsince = \"yesterday\"\n", "since"),
    ] {
        let out = load(toml);
        assert!(!out.status.success(), "{toml} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{toml}: {err}");
    }
    assert_ok(&load(
        "[queue]\nworkers = 0\n[alerts]\nlookback = \"1h\"\npipeline = \"baseline\"\n[slack]\nchannel = \"#ops\"\n[webhook]\nurl = \"http://127.0.0.1:9/hook\"\n",
    ));
}
