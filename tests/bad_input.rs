//! Bad settings make the binary exit with code 2 and a message naming the file and the key.

mod support;

use std::time::Duration;

use support::{Phone, TempDir};

const T: Duration = Duration::from_secs(10);

fn run(args: &[&str]) -> (i32, String) {
    let (status, out) = Phone::run_to_exit(args, T);
    (status.code().expect("exit code"), out)
}

#[test]
fn missing_ini_exits_2_naming_the_file() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("nope.ini");
    let (code, out) = run(&["--ini", path.to_str().unwrap(), "--bind", "127.0.0.1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(path.to_str().unwrap()), "{out}");
}

#[test]
fn unreadable_ini_exits_2_naming_the_file() {
    // A directory where the file should be: unreadable even for root.
    let dir = TempDir::new("unreadable");
    let path = dir.path().join("MicroSIP.ini");
    std::fs::create_dir(&path).unwrap();
    let (code, out) = run(&["--ini", path.to_str().unwrap(), "--bind", "127.0.0.1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(path.to_str().unwrap()), "{out}");
}

#[test]
fn invalid_port_exits_2_naming_file_and_key() {
    let dir = TempDir::new("badport");
    let path = dir.path().join("MicroSIP.ini");
    std::fs::write(&path, "[Settings]\naccountId=0\nsourcePort=70000\n").unwrap();
    let (code, out) = run(&["--ini", path.to_str().unwrap(), "--bind", "127.0.0.1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(path.to_str().unwrap()) && out.contains("sourcePort"),
        "{out}"
    );
}

#[test]
fn bad_option_exits_2_and_says_what_to_do() {
    let (code, out) = run(&["--bind", "not-an-address"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--bind"), "{out}");
}

#[test]
fn version_names_the_pinned_pjproject() {
    let (code, out) = run(&["--version"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pjproject 2.17"), "{out}");
}

#[test]
fn help_anywhere_prints_the_usage_and_starts_no_phone() {
    let dir = TempDir::new("help");
    let ini = dir.path().join("MicroSIP.ini");
    for args in [
        vec!["-h"],
        vec!["help"],
        vec!["100", "--help"],
        vec!["--ini", ini.to_str().unwrap(), "sip:100@127.0.0.1", "-h"],
    ] {
        let (code, out) = run(&args);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(out.contains("usage: microsip"), "{args:?}: {out}");
        assert!(
            !out.contains("started: SIP"),
            "{args:?}: a phone started: {out}"
        );
    }
    assert!(!ini.exists(), "no settings file was created");
    // --version wherever it stands.
    let (code, out) = run(&["sip:100@127.0.0.1", "--version"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pjproject"), "{out}");
}

#[test]
fn our_options_after_microsips_command_line_are_ours() {
    // `--ini X` after the number selects X (here a file that cannot be read): the phone
    // does not start with the default file, and it does not send "--ini X" anywhere.
    let dir = TempDir::new("after");
    let path = dir.path().join("nope.ini");
    let (code, out) = run(&[
        "100",
        "--ini",
        path.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(path.to_str().unwrap()), "{out}");
}

#[test]
fn binary_garbage_is_refused_with_or_without_nul_bytes() {
    let dir = TempDir::new("garbage");
    // Deterministic noise (xorshift), once with its NUL bytes and once without.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let without_nul: Vec<u8> = noise.iter().copied().filter(|&b| b != 0).collect();
    // Noise after a valid beginning is still noise.
    let mut after_header = b"[Settings]\r\nDND=1\r\n".to_vec();
    after_header.extend(&without_nul);
    for (name, bytes) in [
        ("nul.ini", noise.clone()),
        ("no-nul.ini", without_nul),
        ("header.ini", after_header),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (code, out) = run(&["--ini", path.to_str().unwrap(), "--bind", "127.0.0.1"]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(out.contains("binary data, not text"), "{name}: {out}");
        assert!(
            out.lines().count() < 5,
            "one clear message, not a flood:\n{out}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{name} left as it was"
        );
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `microsip --help | head -1`: the reader goes away; no panic, no error flood.
    for args in [&["--help"][..], &["--man"], &["--completions", "bash"]] {
        let mut child = std::process::Command::new(Phone::binary())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
