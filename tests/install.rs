//! `scripts/install.sh --prefix` puts everything in place (binary, man page, completions,
//! systemd units, sounds, link handler, licence), again and again, and `--uninstall` takes it
//! away; what it installed works: the binary runs a phone, the man page renders, the units
//! pass `systemd-analyze verify`, bash completes our options.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{Phone, TempDir};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn install(prefix: &Path, extra: &[&str]) -> String {
    let out = run(
        Command::new(support::tests_dir().join("../scripts/install.sh"))
            .arg("--prefix")
            .arg(prefix)
            .arg("--binary")
            .arg(Phone::binary())
            .args(extra),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const FILES: &[&str] = &[
    "bin/microsip",
    "share/man/man1/microsip.1",
    "share/bash-completion/completions/microsip",
    "share/zsh/site-functions/_microsip",
    "share/fish/vendor_completions.d/microsip.fish",
    "lib/systemd/system/microsip.service",
    "lib/systemd/user/microsip.service",
    "share/microsip/ringtone.wav",
    "share/microsip/ringing.wav",
    "share/microsip/ringing2.wav",
    "share/microsip/hangup.wav",
    "share/applications/microsip.desktop",
    "share/doc/microsip/LICENSE",
];

#[test]
fn install_puts_everything_in_place_and_uninstall_takes_it_away() {
    let dir = TempDir::new("install");
    let prefix = dir.path().join("usr");
    install(&prefix, &[]);
    // Twice: the same result.
    let report = install(&prefix, &[]);
    assert!(report.contains("microsip installed in"), "{report}");
    for f in FILES {
        assert!(prefix.join(f).is_file(), "{f} was not installed");
    }
    let bin = prefix.join("bin/microsip");

    // The installed binary runs: a phone on the example settings, checked.
    let out = run(Command::new(&bin).arg("--version"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("microsip "));
    let example = support::tests_dir().join("../MicroSIP.ini.example");
    let out = run(Command::new(&bin).arg("--ini").arg(&example).arg("--check"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Settings.accountId="),
        "{out:?}"
    );

    // The units name the installed binary and pass systemd's own check (which also looks
    // the man page up).
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/microsip.service")).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={}", bin.display())),
        "{unit}"
    );
    assert!(unit.contains("Type=notify") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let manpath = prefix.join("share/man");
    run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(prefix.join("lib/systemd/system/microsip.service"))
        .env("MANPATH", &manpath));
    let runtime = TempDir::new("xdg-runtime");
    run(Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(prefix.join("lib/systemd/user/microsip.service"))
        .env("MANPATH", &manpath)
        .env("XDG_RUNTIME_DIR", runtime.path()));

    // The man page renders.
    let out = run(Command::new("man")
        .arg("-l")
        .arg(prefix.join("share/man/man1/microsip.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80"));
    let page = String::from_utf8_lossy(&out.stdout);
    for section in ["SYNOPSIS", "OPTIONS", "EXIT STATUS", "SIGNALS", "FILES"] {
        assert!(page.contains(section), "{section} in\n{page}");
    }
    assert!(page.contains("--list-audio-devices"), "{page}");

    // bash loads the completions and completes our options.
    let script = prefix.join("share/bash-completion/completions/microsip");
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p microsip >/dev/null && \
         COMP_WORDS=(microsip --log-) COMP_CWORD=1 COMP_LINE='microsip --log-' COMP_POINT=15 \
         && _microsip microsip --log- microsip && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    )));
    let completed = String::from_utf8_lossy(&out.stdout);
    assert!(
        completed.lines().any(|l| l.trim() == "--log-level"),
        "{completed}"
    );

    // The link handler runs the installed binary with the link.
    let desktop =
        std::fs::read_to_string(prefix.join("share/applications/microsip.desktop")).unwrap();
    assert!(
        desktop.contains(&format!("Exec={} %u", bin.display())),
        "{desktop}"
    );
    assert!(desktop.contains("x-scheme-handler/sip;"), "{desktop}");

    // The licence is the one Cargo.toml names.
    let licence = std::fs::read_to_string(prefix.join("share/doc/microsip/LICENSE")).unwrap();
    assert!(licence.contains("GNU GENERAL PUBLIC LICENSE") && licence.contains("Version 2"));
    let cargo = std::fs::read_to_string(support::tests_dir().join("../Cargo.toml")).unwrap();
    assert!(cargo.contains("license = \"GPL-2.0-or-later\""));

    // Uninstall: nothing of ours is left.
    install(&prefix, &["--uninstall"]);
    for f in FILES {
        assert!(!prefix.join(f).exists(), "{f} was left behind");
    }
    let out = install(&prefix, &["--uninstall"]);
    assert!(out.contains("nothing installed"), "{out}");
}

#[test]
fn a_user_install_registers_the_link_handler_for_the_user() {
    let dir = TempDir::new("install-user");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = run(
        Command::new(support::tests_dir().join("../scripts/install.sh"))
            .args(["--user", "--binary"])
            .arg(Phone::binary())
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME"),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("systemctl --user"), "{report}");
    assert!(home.join(".local/bin/microsip").is_file());
    assert!(home.join(".config/systemd/user/microsip.service").is_file());
    assert!(
        !home.join(".local/lib/systemd/system").exists(),
        "no system unit"
    );
    let mimeapps = std::fs::read_to_string(home.join(".config/mimeapps.list")).unwrap();
    assert!(
        mimeapps.contains("x-scheme-handler/tel=microsip.desktop"),
        "{mimeapps}"
    );
    run(
        Command::new(support::tests_dir().join("../scripts/install.sh"))
            .args(["--user", "--uninstall"])
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME"),
    );
    assert!(!home.join(".local/bin/microsip").exists());
    assert!(!home.join(".config/systemd/user/microsip.service").exists());
    assert!(!home
        .join(".local/share/applications/microsip.desktop")
        .exists());
}
