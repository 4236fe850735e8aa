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
