//! Start-up through the real binary: a damaged speech model stops the kiosk with a message naming
//! the file and the fix; a damaged optional model starts it degraded and says which and why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn installed_models_dir() -> PathBuf {
    let dir = kiosk::config::Config::load(None).expect("config").config.models_dir;
    assert!(
        dir.join(models::MANIFEST_FILE).exists(),
        "no models installed in {}; run `deploy/test.sh` (or `kiosk models install`) first",
        dir.display()
    );
    dir
}

/// A models directory that mirrors the installed one through symlinks, except `damaged`, which is
/// a real copy with one byte flipped (or absent when `delete`).
fn mirror_with_damage(damaged: &str, delete: bool) -> tempfile::TempDir {
    let real = installed_models_dir();
    let catalog = models::Catalog::embedded().expect("catalog");
    let dir = tempfile::tempdir().expect("tempdir");
    for model in &catalog.models {
        for file in &model.files {
            let dest = dir.path().join(&file.path);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            if file.path != damaged {
                std::os::unix::fs::symlink(real.join(&file.path), &dest).expect("symlink");
            } else if !delete {
                let mut bytes = std::fs::read(real.join(&file.path)).expect("read model");
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x40;
                std::fs::write(&dest, bytes).expect("write damaged copy");
            }
        }
    }
    std::fs::copy(real.join(models::MANIFEST_FILE), dir.path().join(models::MANIFEST_FILE))
        .expect("manifest");
    dir
}

fn kiosk(models_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(args)
        .env("KIOSK_MODELS_DIR", models_dir)
        .env_remove("KIOSK_CONFIG")
        .env("KIOSK_LOG", "warn")
        .output()
        .expect("kiosk runs")
}

fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn flipped_byte_in_speech_model_stops_the_kiosk_naming_file_and_fix() {
    let dir = mirror_with_damage("whisper-base/ggml-base.bin", false);
    for args in [&["run"][..], &["status"][..]] {
        let out = kiosk(dir.path(), args);
        let text = output_text(&out);
        assert!(!out.status.success(), "{args:?} must refuse: {text}");
        assert!(text.contains("whisper-base/ggml-base.bin") && text.contains("corrupt"), "{text}");
        assert!(text.contains("kiosk models install whisper-base"), "{text}");
    }
    let out = kiosk(dir.path(), &["models", "verify"]);
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("FAILED") && text.contains("whisper-base/ggml-base.bin"), "{text}");
    assert_eq!(text.matches("FAILED").count(), 1, "only the damaged file fails: {text}");
}

#[test]
fn missing_speech_model_stops_the_kiosk() {
    let dir = mirror_with_damage("whisper-base/ggml-base.bin", true);
    let out = kiosk(dir.path(), &["run"]);
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("whisper-base/ggml-base.bin is missing"), "{text}");
}

#[test]
fn flipped_byte_in_optional_model_starts_degraded_and_says_why() {
    let dir = mirror_with_damage("e5-small/e5-small-q4.bin", false);
    let out = kiosk(dir.path(), &["status"]);
    let text = output_text(&out);
    assert!(out.status.success(), "starts degraded: {text}");
    assert!(text.contains("degraded: e5-small"), "{text}");
    assert!(text.contains("e5-small/e5-small-q4.bin is corrupt"), "{text}");
    assert!(text.contains("semantic matching is off"), "{text}");
    assert!(text.contains("starting degraded"), "the log says so too: {text}");

    let dir = mirror_with_damage("kokoro/kokoro-v1.0.int8.onnx", true);
    let message = output_text(&kiosk(dir.path(), &["status"]));
    assert!(message.contains("degraded: kokoro") && message.contains("espeak-ng"), "{message}");
}

#[test]
fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kiosk.toml");
    std::fs::write(&config, "[speech]\nasr_threads = 0\n").expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["--config", config.to_str().expect("utf-8"), "status"])
        .output()
        .expect("kiosk runs");
    let message = output_text(&out);
    assert!(!out.status.success());
    assert!(message.contains("speech.asr_threads"), "{message}");

    let out = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["--config", "/nonexistent.toml", "status"])
        .output()
        .expect("kiosk runs");
    assert!(output_text(&out).contains("/nonexistent.toml"), "{}", output_text(&out));
}

#[test]
fn without_a_display_the_kiosk_says_so_and_names_the_console() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .arg("run")
        .env("KIOSK_MODELS_DIR", installed_models_dir())
        .env_remove("KIOSK_CONFIG")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("KIOSK_LOG", "warn")
        .output()
        .expect("kiosk runs");
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("no display") && text.contains("kiosk console"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
